package v1alpha1

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/safekeep-dev/safekeep/seal"
)

func TestNames(t *testing.T) {
	when := time.Date(2026, time.October, 25, 2, 30, 0, 0, time.FixedZone("CEST", 2*3600))
	long := strings.Repeat("a", 60) + "." + strings.Repeat("b", 190)
	tests := []struct {
		ns, name          string
		wantLabel, wantBk string // "" = only check validity and length
	}{
		{"phi-app", "nightly", "phi-app.nightly", "phi-app.nightly-20261025003000"},
		{"a-b", "c", "a-b.c", "a-b.c-20261025003000"},
		{"a", "b-c", "a.b-c", "a.b-c-20261025003000"},
		{strings.Repeat("n", 63), "schedule", "", ""},
		{"ns", long, "", ""},
		{strings.Repeat("n", 63), long, "", ""},
	}
	seenLabel, seenName := map[string]string{}, map[string]string{}
	for _, tt := range tests {
		label, name := ScheduleLabelValue(tt.ns, tt.name), BackupName(tt.ns, tt.name, when)
		if tt.wantLabel != "" && label != tt.wantLabel {
			t.Errorf("ScheduleLabelValue(%s, %s) = %s, want %s", tt.ns, tt.name, label, tt.wantLabel)
		}
		if tt.wantBk != "" && name != tt.wantBk {
			t.Errorf("BackupName(%s, %s) = %s, want %s", tt.ns, tt.name, name, tt.wantBk)
		}
		if errs := validation.IsValidLabelValue(label); len(errs) > 0 {
			t.Errorf("label value %q: %v", label, errs)
		}
		if err := seal.ValidateName("backup", name); err != nil {
			t.Errorf("backup name: %v", err)
		}
		if !strings.HasSuffix(name, "-20261025003000") {
			t.Errorf("backup name %s lost its time", name)
		}
		id := tt.ns + "/" + tt.name
		if other, ok := seenLabel[label]; ok {
			t.Errorf("%s and %s share the label value %s", id, other, label)
		}
		if other, ok := seenName[name]; ok {
			t.Errorf("%s and %s share the backup name %s", id, other, name)
		}
		seenLabel[label], seenName[name] = id, id
	}
	if BackupName("ns", "s", when) == BackupName("ns", "s", when.Add(time.Hour)) {
		t.Error("the two 02:30 runs of a fall-back day share a name")
	}
	if m := ManualBackupName("ns", "s", when); m != "ns.s-20261025003000-manual" || m == BackupName("ns", "s", when) {
		t.Errorf("ManualBackupName = %s", m)
	}
	if m := ManualBackupName("ns", long, when); seal.ValidateName("backup", m) != nil || !strings.HasSuffix(m, "-20261025003000-manual") {
		t.Errorf("long ManualBackupName = %s", m)
	}
}

// FuzzNames: every valid namespace and schedule name gives a valid label
// value and a valid Velero backup name.
func FuzzNames(f *testing.F) {
	f.Add("phi-app", "nightly", int64(0))
	f.Add(strings.Repeat("x", 63), strings.Repeat("y.z", 84), int64(1<<40))
	f.Fuzz(func(t *testing.T, ns, name string, sec int64) {
		if len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			return
		}
		when := time.Unix(sec%(1<<35), 0)
		if errs := validation.IsValidLabelValue(ScheduleLabelValue(ns, name)); len(errs) > 0 {
			t.Fatalf("label value of %s/%s: %v", ns, name, errs)
		}
		if err := seal.ValidateName("backup", BackupName(ns, name, when)); err != nil {
			t.Fatalf("backup name of %s/%s: %v", ns, name, err)
		}
		if err := seal.ValidateName("backup", ManualBackupName(ns, name, when)); err != nil {
			t.Fatalf("manual backup name of %s/%s: %v", ns, name, err)
		}
	})
}

func TestDrillNames(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 2, 30, 0, 0, time.FixedZone("x", 3600))
	if got := DrillRunID(t0, TriggerSchedule); got != "20260501013000" {
		t.Errorf("scheduled run ID %s", got)
	}
	if got := DrillRunID(t0, TriggerManual); got != "20260501013000-m" {
		t.Errorf("manual run ID %s", got)
	}
	long := strings.Repeat("n", 63)
	for _, tt := range [][2]string{{"safekeep-system", "weekly"}, {long, long}} {
		a := DrillStagedName(tt[0], tt[1], "20260501013000")
		b := DrillStagedName(tt[0], tt[1], "20260501013000-m")
		if len(a) > 63 || len(b) > 63 || a == b || !strings.HasPrefix(a, "drill-") || strings.Contains(a, ".") {
			t.Errorf("staged names %q %q: want distinct, at most 63, starting drill-", a, b)
		}
		if len(DrillLabelValue(tt[0], tt[1])) > 63 {
			t.Errorf("label value too long")
		}
	}
}
