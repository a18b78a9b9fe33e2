package restoredrill

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/drill"
)

func sealedBackup(name string, sealed time.Time, retained *bool) v1alpha1.OffsiteBackup {
	ob := v1alpha1.OffsiteBackup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.OffsiteBackupSpec{ScheduleName: "nightly", VeleroBackupName: name, OffsiteTargetRef: corev1Ref("offsite")},
		Status:     v1alpha1.OffsiteBackupStatus{SealedAt: &metav1.Time{Time: sealed}},
	}
	kit.SetCondition(&ob.Status.Conditions, ob.Generation, sealed, v1alpha1.ConditionSealed, metav1.ConditionTrue, v1alpha1.ReasonSealed, "")
	if retained != nil {
		status := metav1.ConditionFalse
		if *retained {
			status = metav1.ConditionTrue
		}
		kit.SetCondition(&ob.Status.Conditions, ob.Generation, sealed, v1alpha1.ConditionRetained, status, v1alpha1.ReasonKeptByPolicy, "")
	}
	return ob
}

func TestChooseBackup(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	yes, no := true, false
	items := []v1alpha1.OffsiteBackup{
		sealedBackup("b", t0.Add(2*time.Hour), &yes),
		sealedBackup("a", t0.Add(1*time.Hour), nil),
		sealedBackup("dropped", t0, &no), // retention dropped it: never drilled
		sealedBackup("c", t0.Add(3*time.Hour), nil),
	}
	unsealed := sealedBackup("unsealed", t0.Add(5*time.Hour), nil)
	unsealed.Status.Conditions = nil
	other := sealedBackup("other-target", t0.Add(6*time.Hour), nil)
	other.Spec.OffsiteTargetRef.Name = "elsewhere"
	items = append(items, unsealed, other)
	for _, tt := range []struct {
		choice v1alpha1.DrillBackupChoice
		n      int // what the random source returns
		want   string
	}{
		{v1alpha1.DrillBackupLatest, 0, "c"},
		{"", 0, "c"},
		{v1alpha1.DrillBackupOldest, 0, "a"},
		{v1alpha1.DrillBackupRandom, 0, "a"},
		{v1alpha1.DrillBackupRandom, 1, "b"},
		{v1alpha1.DrillBackupRandom, 2, "c"},
	} {
		var gotN int
		got := chooseBackup(items, "nightly", "offsite", tt.choice, func(n int) int { gotN = n; return tt.n })
		if got == nil || got.Name != tt.want {
			t.Errorf("%s (rand %d): got %v, want %s", tt.choice, tt.n, got, tt.want)
		}
		if tt.choice == v1alpha1.DrillBackupRandom && gotN != 3 {
			t.Errorf("random chose among %d, want the 3 retained sealed ones", gotN)
		}
	}
	if got := chooseBackup(items[2:3], "nightly", "offsite", v1alpha1.DrillBackupLatest, nil); got != nil {
		t.Errorf("only a dropped backup: got %s, want none", got.Name)
	}
}

func TestTrimHistory(t *testing.T) {
	var h []v1alpha1.DrillRun
	for i := range 130 {
		c := v1alpha1.DrillCleanupDeleted
		if i == 20 || i == 120 {
			c = v1alpha1.DrillCleanupKept // still to clean up: remembered beyond the limit
		}
		h = append(h, v1alpha1.DrillRun{ID: fmt.Sprint(i), Cleanup: c})
	}
	got := trimHistory(h, 10)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
	}
	if want := "0 1 2 3 4 5 6 7 8 9 20 120"; strings.Join(ids, " ") != want {
		t.Errorf("trimmed to %v, want %s", ids, want)
	}
	if n := len(trimHistory(h, 100)); n != 100 {
		t.Errorf("limit 100 kept %d", n)
	}
}

func TestKeepsNamespaces(t *testing.T) {
	end := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	hour := &v1alpha1.Duration{Duration: time.Hour}
	for _, tt := range []struct {
		policy v1alpha1.DrillCleanupPolicy
		keep   *v1alpha1.Duration
		passed bool
		want   bool
		until  bool
	}{
		{"", nil, true, false, false},
		{"", nil, false, false, false},
		{v1alpha1.DrillCleanupAlways, hour, false, true, true},
		{v1alpha1.DrillCleanupAlways, hour, true, false, false},
		{v1alpha1.DrillCleanupOnSuccess, nil, false, true, false},
		{v1alpha1.DrillCleanupOnSuccess, hour, false, true, true},
		{v1alpha1.DrillCleanupOnSuccess, hour, true, false, false},
		{v1alpha1.DrillCleanupNever, nil, true, true, false},
		{v1alpha1.DrillCleanupNever, hour, false, true, false},
	} {
		keep, until := keepsNamespaces(v1alpha1.DrillCleanup{Policy: tt.policy, KeepFailedFor: tt.keep}, tt.passed, end)
		if keep != tt.want || (until != nil) != tt.until || (until != nil && !until.Time.Equal(end.Add(time.Hour))) {
			t.Errorf("%s keep %v passed %v: keep %v until %v", tt.policy, tt.keep, tt.passed, keep, until)
		}
	}
}

// A keepFailedFor over the bound (stored before admission refused it) keeps
// the namespaces MaxKeepFailedFor at most.
func TestKeepFailedForCapped(t *testing.T) {
	end := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	year := &v1alpha1.Duration{Duration: 365 * 24 * time.Hour}
	keep, until := keepsNamespaces(v1alpha1.DrillCleanup{Policy: v1alpha1.DrillCleanupAlways, KeepFailedFor: year}, false, end)
	if !keep || until == nil || !until.Time.Equal(end.Add(v1alpha1.MaxKeepFailedFor)) {
		t.Errorf("keepFailedFor 1 year: keep %v until %v, want until %s", keep, until, end.Add(v1alpha1.MaxKeepFailedFor))
	}
}

func TestSubjectOf(t *testing.T) {
	if v1alpha1.DrillStagedName("a-b", "c", "1") == v1alpha1.DrillStagedName("a", "b-c", "1") {
		t.Errorf("drills a-b/c and a/b-c share a staged name")
	}
	if got := subjectOf("system:serviceaccount:safekeep-system:safekeep-controller"); got.Kind != rbacv1.ServiceAccountKind ||
		got.Namespace != "safekeep-system" || got.Name != "safekeep-controller" {
		t.Errorf("service account subject %+v", got)
	}
	if got := subjectOf("admin"); got.Kind != rbacv1.UserKind || got.Name != "admin" || got.APIGroup != rbacv1.GroupName {
		t.Errorf("user subject %+v", got)
	}
}

func corev1Ref(name string) corev1.LocalObjectReference {
	return corev1.LocalObjectReference{Name: name}
}

// A passed run counts its namespaces in words: "1 namespace", "2 namespaces".
func TestFillRunCountsNamespaces(t *testing.T) {
	for n, want := range map[int]string{1: "every check passed: 1 namespace restored and verified", 2: "every check passed: 2 namespaces restored and verified"} {
		res := &drill.Result{Passed: true, Namespaces: map[string]string{}}
		for i := range n {
			res.Namespaces[fmt.Sprint("phi-", i)] = fmt.Sprint("drill-phi-", i)
		}
		run := &v1alpha1.DrillRun{}
		fillRun(run, res)
		if run.Message != want {
			t.Errorf("%d namespaces: message %q, want %q", n, run.Message, want)
		}
	}
}
