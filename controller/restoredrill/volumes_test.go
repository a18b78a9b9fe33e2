package restoredrill

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// A run's Level 1 volume check, as the engine reports it, is recorded in
// the drill's status (files and bytes per volume, the damaged one named),
// fails the run with reason VolumeCheckFailed, and goes into the audit
// entry as counts and digests, with no volume or blob name; with
// spec.checks.volumes Skip the engine is told to leave it out.
func TestRestoreDrillRecordsVolumes(t *testing.T) {
	e := newDrillEnv(t, day0)
	ns := e.Namespace(t)
	e.fixtures(t, ns, -3)
	e.auditedTarget(t, ns, "offsite")

	// Two volumes sealed from a kopia repository (on a VersityGW of their
	// own: the engine's Velero restore is not run here, its Level 1 is),
	// one of whose data packs is then damaged at rest.
	bed := sealtest.NewBed(t, false)
	db, scanner := t.TempDir(), t.TempDir()
	for dir, files := range map[string]map[string]string{
		db:      {"records/patient-1.json": `{"name":"` + sealtest.Marker + `"}`, "records/patient-2.json": `{}`},
		scanner: {"scan-1.dcm": strings.Repeat("scan", 1<<16)},
	} {
		for name, data := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	m := volumetest.SealVolumes(t, bed, "b1", "phi-app", map[string]string{"db-0": db, "scanner-0": scanner})
	var pack string
	for _, b := range m.Repositories[0].Blobs {
		if strings.HasPrefix(b.ID, "p") {
			pack = b.Key
		}
	}
	bed.Damage(t, pack)

	var mu sync.Mutex
	var skipped []bool
	engine := func(ctx context.Context, opts drill.Options) (*drill.Result, error) {
		mu.Lock()
		skipped = append(skipped, opts.SkipVolumes)
		mu.Unlock()
		res := &drill.Result{Schedule: opts.Schedule, Backup: opts.Backup, StartedAt: e.Clock.Now(), FinishedAt: e.Clock.Now(), Passed: true}
		for _, name := range drill.CheckNames[:len(drill.CheckNames)-1] {
			res.Checks = append(res.Checks, audit.CheckResult{Name: name, Passed: true, Message: "passed"})
		}
		volumes := audit.CheckResult{Name: drill.CheckVolumes, Passed: true, Message: "not requested"}
		if !opts.SkipVolumes {
			got, err := volume.Verify(ctx, bed.Offsite, m, bed.Identities, volume.VerifyOptions{})
			if err != nil {
				return nil, err
			}
			res.Volumes, volumes = got, drill.VolumesCheck(got)
		} else {
			// Level 2 stands in for the volumes Level 1 skips.
			v := m.Volumes[0]
			res.RestoredVolumes = []drill.RestoredVolume{{Volume: v, Files: v.Files, Bytes: v.Bytes, MatchedFiles: v.Files, MatchedBytes: v.Bytes}}
		}
		res.Checks = append(res.Checks, volumes)
		res.Passed = volumes.Passed
		return res, nil
	}
	r := e.drillReconciler(t, nil)
	r.engine, r.Audit = engine, auditlog.New("", e.Rec)

	// Never due between its creation (the wall clock) and the fake clock's
	// day0: only the runs asked for run.
	d := e.drill(t, ns, "volumes", func(s *v1alpha1.RestoreDrillSpec) { s.Schedule = "0 3 1 1 *" })
	if got := e.getDrill(t, d).Spec.Checks.Volumes; got != v1alpha1.DrillVolumesVerify {
		t.Errorf("spec.checks.volumes defaults to %q, want Verify", got)
	}
	run := e.runNow(t, r, d, day0.Add(10*time.Minute))
	if run.Result != v1alpha1.DrillRunFailed {
		t.Fatalf("run %+v, want Failed", run)
	}
	var failed, passed *v1alpha1.DrillVolumeResult
	for i := range run.Volumes {
		if v := &run.Volumes[i]; v.Passed {
			passed = v
		} else {
			failed = v
		}
	}
	if len(run.Volumes) != 2 || failed == nil || passed == nil {
		t.Fatalf("status volumes %+v, want one passed and one failed", run.Volumes)
	}
	if failed.Files != 0 || !strings.Contains(failed.Message, pack) || failed.Namespace != "phi-app" {
		t.Errorf("failed volume %+v, want no files verified and the pack %s named", failed, pack)
	}
	for _, rec := range m.Volumes {
		if rec.Pod == passed.Pod && (passed.Files != rec.Files || passed.Bytes != rec.Bytes || passed.Files == 0) {
			t.Errorf("passed volume %+v, the manifest says %d files, %d bytes", passed, rec.Files, rec.Bytes)
		}
	}
	got := e.getDrill(t, d)
	wantDrillCondition(t, got, v1alpha1.ConditionLastDrillPassed, metav1.ConditionFalse, v1alpha1.ReasonVolumeCheckFailed,
		"check volumes failed", "phi-app/"+failed.Pod+"/data", pack)

	// The audit entry: counts and digests, no names.
	st := sealtest.OpenStore(t, e.s3.Config("offsite", "audited/safekeep/v1"))
	entry := audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindDrill, ns+"/volumes/"+run.ID, `"volumes":[`)
	var det audit.DrillDetails
	if err := json.Unmarshal(entry.Details, &det); err != nil {
		t.Fatal(err)
	}
	if len(det.Volumes) != 2 || det.Passed {
		t.Fatalf("audit volumes %+v, passed %v", det.Volumes, det.Passed)
	}
	for _, v := range det.Volumes {
		if !strings.HasPrefix(v.Volume, "sha256:") || (v.Passed && v.Files != passed.Files) || (!v.Passed && v.Files != 0) {
			t.Errorf("audit volume %+v", v)
		}
	}
	for _, word := range []string{"phi-app/", "db-0", "scanner-0", "patient", "/blobs/", filepath.Base(pack)} {
		if strings.Contains(string(entry.Details), word) {
			t.Errorf("the audit entry holds %q: %s", word, entry.Details)
		}
	}

	// Skip: the engine is told, and the run passes without volumes.
	d = e.getDrill(t, d)
	d.Spec.Checks.Volumes = v1alpha1.DrillVolumesSkip
	if err := e.CP.Client.Update(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	run = e.runNow(t, r, d, day0.Add(20*time.Minute))
	// Its status (read back from the API server) and its audit entry say
	// the volume Level 2 restored was not verified by Level 1, and why.
	if run.Result != v1alpha1.DrillRunPassed || len(run.Volumes) != 1 || run.Volumes[0].NotVerified != v1alpha1.VolumeNotVerifiedSkipped ||
		run.Volumes[0].Files != 0 || run.Volumes[0].Restored == nil || run.Volumes[0].Restored.MatchedFiles != m.Volumes[0].Files {
		t.Errorf("run with checks.volumes Skip: %+v, want its one restored volume marked not verified", run)
	}
	entry = audittest.WantEntry(t, auditlog.DefaultActor, st, audit.KindDrill, ns+"/volumes/"+run.ID, `"notVerified":"Skipped"`)
	det = audit.DrillDetails{}
	if err := json.Unmarshal(entry.Details, &det); err != nil {
		t.Fatal(err)
	}
	if len(det.Volumes) != 1 || det.Volumes[0].NotVerified != audit.VolumeNotVerifiedSkipped || det.Volumes[0].Restored == nil ||
		det.Volumes[0].Restored.MatchedFiles != m.Volumes[0].Files {
		t.Errorf("audit volumes of the run with checks.volumes Skip: %+v", det.Volumes)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(skipped) != 2 || skipped[0] || !skipped[1] {
		t.Errorf("the engine was told SkipVolumes %v, want [false true]", skipped)
	}
}

// runNow asks for a run of d at asked, waits for it to finish and returns
// it as recorded.
func (e *drillEnv) runNow(t *testing.T, r *Reconciler, d *v1alpha1.RestoreDrill, asked time.Time) v1alpha1.DrillRun {
	t.Helper()
	e.reconcileDrill(t, r, d)
	waitJob(t, r, d)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+v1alpha1.AnnotationRunNow+`":"`+asked.Format(time.RFC3339)+`"}}}`))
	if err := e.CP.Client.Patch(t.Context(), d, patch); err != nil {
		t.Fatal(err)
	}
	e.reconcileDrill(t, r, d)
	id := v1alpha1.DrillRunID(asked, v1alpha1.TriggerManual)
	if a := e.getDrill(t, d).Status.Active; a == nil || a.ID != id {
		t.Fatalf("active %+v, want run %s", a, id)
	}
	waitJob(t, r, d)
	e.reconcileDrill(t, r, d)
	got := e.getDrill(t, d)
	if got.Status.LastRun == nil || got.Status.LastRun.ID != id {
		t.Fatalf("run %s was not recorded: %+v", id, got.Status)
	}
	return *got.Status.LastRun
}
