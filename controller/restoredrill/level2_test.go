package restoredrill

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// TestRestoreDrillLevel2: spec.checks.volumeFiles Compare turns Level 2
// on for scheduled runs (the engine is told to restore volumes, with a
// reader of the restored volumes), each volume's files and bytes restored
// and matched go into status, and a failed run is named by what failed:
// RepositoryPasswordMismatch before Velero ran, VolumeFilesCheckFailed
// when restored files differ. Skip, the default, leaves Level 2 off. The
// engine's own Level 2 runs on real Velero in e2e.
func TestRestoreDrillLevel2(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3)
	e.auditedTarget(t, ns, "offsite")

	vol := seal.VolumeRecord{Namespace: "phi-app", Pod: "db-0", Volume: "data"}
	var mu sync.Mutex
	var told []drill.Options
	outcome := drill.RestoredVolume{Volume: vol, Files: 5, Bytes: 351413, MatchedFiles: 5, MatchedBytes: 351413}
	engine := func(_ context.Context, opts drill.Options) (*drill.Result, error) {
		mu.Lock()
		told = append(told, opts)
		rv := outcome
		mu.Unlock()
		failed := opts.RestoreVolumes && !rv.Passed()
		res := &drill.Result{Schedule: opts.Schedule, Backup: opts.Backup, StartedAt: e.Clock.Now(), FinishedAt: e.Clock.Now(), Passed: !failed}
		for _, name := range drill.CheckNames {
			c := audit.CheckResult{Name: name, Passed: true, Message: "passed"}
			if name == drill.CheckVolumeFiles && failed {
				c = audit.CheckResult{Name: name, Message: rv.Reason, Objects: []string{"volume phi-app/db-0/data: " + rv.Reason}}
			}
			res.Checks = append(res.Checks, c)
		}
		if opts.RestoreVolumes {
			res.RestoredVolumes = []drill.RestoredVolume{rv}
		}
		return res, nil
	}
	r := e.drillReconciler(t, nil)
	r.engine, r.Audit = engine, auditlog.New("", e.Rec)

	d := e.drill(t, ns, "level2", func(s *v1alpha1.RestoreDrillSpec) {
		s.Schedule = "0 3 1 1 *" // never due before day0: only the runs asked for run
		s.Checks.VolumeFiles = v1alpha1.DrillVolumeFilesCompare
		s.Workloads = v1alpha1.DrillWorkloads{Mode: v1alpha1.DrillWorkloadsIsolated, Run: []v1alpha1.DrillRunnableKind{"Pod"}, PodSecurity: "baseline"}
	})
	run := e.runNow(t, r, d, day0.Add(10*time.Minute))
	if run.Result != v1alpha1.DrillRunPassed || len(run.Volumes) != 1 {
		t.Fatalf("run %+v, want Passed with one volume", run)
	}
	if got := run.Volumes[0].Restored; got == nil || !got.Passed || got.Files != 5 || got.Bytes != 351413 || got.MatchedFiles != 5 || got.MatchedBytes != 351413 {
		t.Errorf("restored %+v, want 5 files, 351413 bytes restored and matched", got)
	}
	want := audit.VolumeRestored{Files: 5, Bytes: 351413, MatchedFiles: 5, MatchedBytes: 351413, Passed: true}
	wantAuditRestored(t, e, ns+"/level2/"+run.ID, want)

	for i, tt := range []struct {
		reason, condition string
	}{
		{drill.VolumePasswordMismatch, v1alpha1.ReasonRepositoryPasswordMismatch},
		{drill.VolumeDiffers, v1alpha1.ReasonVolumeFilesCheckFailed},
	} {
		mu.Lock()
		outcome = drill.RestoredVolume{Volume: vol, Files: 5, Bytes: 351413, MatchedFiles: 4, MatchedBytes: 351000, Differ: 1,
			Reason: tt.reason, Message: "what failed: records/patient-0042.json"}
		mu.Unlock()
		run = e.runNow(t, r, d, day0.Add(time.Duration(20+10*i)*time.Minute))
		if run.Result != v1alpha1.DrillRunFailed || run.Volumes[0].Passed || run.Volumes[0].Restored.Reason != tt.reason {
			t.Errorf("run %+v, want Failed with the volume's reason %s", run, tt.reason)
		}
		want := audit.VolumeRestored{Files: 5, Bytes: 351413, MatchedFiles: 4, MatchedBytes: 351000, Reason: tt.reason}
		wantAuditRestored(t, e, ns+"/level2/"+run.ID, want)
		wantDrillCondition(t, e.getDrill(t, d), v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, tt.condition, "volume-files", "phi-app/db-0/data")
	}

	mu.Lock()
	compared := len(told)
	mu.Unlock()
	d = e.getDrill(t, d)
	d.Spec.Checks.VolumeFiles = v1alpha1.DrillVolumeFilesSkip
	if err := e.CP.Client.Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	run = e.runNow(t, r, d, day0.Add(time.Hour))
	if run.Result != v1alpha1.DrillRunPassed || len(run.Volumes) != 0 {
		t.Errorf("run with volumeFiles Skip: %+v", run)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, o := range told {
		if want := i < compared; o.RestoreVolumes != want || (o.VolumeReader != nil) != want {
			t.Errorf("run %d: the engine was told RestoreVolumes %v, a reader %v; want %v", i, o.RestoreVolumes, o.VolumeReader != nil, want)
		}
	}
	if compared < 3 || len(told) == compared {
		t.Errorf("%d runs with Compare, %d with Skip", compared, len(told)-compared)
	}
}

// wantAuditRestored reads the drill entry of subject back from the bucket:
// its one volume carries the Level 2 counts want, and no name (the
// volume's, a file's or the status message's) is in it.
func wantAuditRestored(t *testing.T, e *drillEnv, subject string, want audit.VolumeRestored) {
	t.Helper()
	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	entry := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindDrill, subject, `"restored":{`)
	var det audit.DrillDetails
	if err := json.Unmarshal(entry.Details, &det); err != nil {
		t.Fatal(err)
	}
	if len(det.Volumes) != 1 || det.Volumes[0].Restored == nil || *det.Volumes[0].Restored != want || det.Volumes[0].Volume != audit.NameDigest("phi-app/db-0/data") {
		t.Errorf("audit volumes %+v, want one volume restored %+v", det.Volumes, want)
	}
	for _, word := range []string{"phi-app/", "db-0", "patient", "what failed"} {
		if strings.Contains(string(entry.Details), word) {
			t.Errorf("the audit entry holds %q: %s", word, entry.Details)
		}
	}
}
