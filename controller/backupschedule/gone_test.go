package backupschedule

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestGoneSealAlerts: someone with the bucket's credentials deletes the
// seal.json of a sealed backup (real VersityGW, no object lock). The next
// pass does not clean the record up: it stays with Gone True, a Warning
// Event and a "seal-gone" audit failure entry say so once, and the gone
// gauge counts it. With the seal put back, Gone turns False and the gauge
// drops. Before, the record was deleted silently.
func TestGoneSealAlerts(t *testing.T) {
	env := newSealEnvOn(t, sealtest.NewBed(t, false))
	ctx := t.Context()
	ns := env.Namespace(t)
	env.target(t, ns, "offsite", nil)
	offsite := env.offsite(t, "offsite")
	t0 := env.Clock.Now()
	s := env.Schedule(t, ns, "vanish", v1alpha1.BackupScheduleSpec{Schedule: "0 * * * *"}, t0.Add(-time.Hour))
	r := env.reconciler(Options{Audit: auditlog.New("", env.Rec)})
	startJobs(t, r)
	gauge := func() float64 { return metricValue(t, goneBackups.WithLabelValues(ns, "vanish")) }

	first := env.sealRunAt(t, r, s, t0)
	sealKey := seal.SealKey("vanish", first)
	body, _, err := offsite.Get(ctx, sealKey)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(body)
	_ = body.Close() // read whole; nothing to report
	if err != nil {
		t.Fatal(err)
	}
	if err := offsite.Delete(ctx, sealKey); err != nil {
		t.Fatal(err)
	}
	env.sealRunAt(t, r, s, t0.Add(time.Hour))
	ob := env.offsiteBackup(t, ns, first) // kept: evidence, not a clean-up
	c := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionGone)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != v1alpha1.ReasonSealGone || !strings.Contains(c.Message, "retention did not delete it") {
		t.Fatalf("Gone = %+v, want True/SealGone", c)
	}
	env.WaitEvent(t, ob, v1alpha1.ReasonSealGone)
	audittest.WantEntry(t, auditlog.DefaultActor, offsite, audit.KindFailure, ns+"/vanish/"+first, `"operation":"seal-gone"`)
	if got := gauge(); got != 1 {
		t.Errorf("gone gauge = %v, want 1", got)
	}
	env.sealRunAt(t, r, s, t0.Add(2*time.Hour)) // still gone: no second entry, and nothing cleaned up
	if _, err := offsite.Stat(ctx, seal.ObjectKey("vanish", first, first+".tar.gz")); err != nil {
		t.Errorf("the gone backup's archive: %v, want it kept as evidence", err)
	}
	if n := countEntries(t, offsite, `"operation":"seal-gone"`); n != 1 {
		t.Errorf("%d seal-gone entries after two passes, want 1", n)
	}

	if _, err := offsite.Put(ctx, sealKey, bytes.NewReader(raw), storage.PutOptions{Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
	env.sealRunAt(t, r, s, t0.Add(3*time.Hour))
	c = meta.FindStatusCondition(env.offsiteBackup(t, ns, first).Status.Conditions, v1alpha1.ConditionGone)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonSealPresent {
		t.Errorf("Gone after the seal is back = %+v, want False/SealPresent", c)
	}
	if got := gauge(); got != 0 {
		t.Errorf("gone gauge after the seal is back = %v, want 0", got)
	}
}

// countEntries counts the log's entries whose details hold detail.
func countEntries(t *testing.T, st storage.Store, detail string) int {
	t.Helper()
	n := 0
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(e.Details), detail) {
			n++
		}
	}
	return n
}
