package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// The chaos suite's knobs: how many SIGKILLs, the seed of their timing,
// and the latest point after a run is asked for at which one lands.
// `make chaos` runs 100; `make test` runs the default sample.
const (
	chaosKillsEnv    = "SAFEKEEP_CHAOS_KILLS"
	chaosSeedEnv     = "SAFEKEEP_CHAOS_SEED"
	chaosKills       = 20
	chaosSeed        = 1
	chaosMaxDelay    = 2 * time.Second
	chaosNamespace   = "safekeep-system"
	chaosWorkload    = "phi-chaos"
	chaosBucket      = "offsite-chaos"
	chaosPrefix      = "chaos"
	chaosSchedule    = "chaos"
	chaosRunTimeout  = 2 * time.Minute
	chaosKeepBackups = 2
)

// TestChaos SIGKILLs safekeep-controller (real process, real Velero,
// VersityGW, envtest, the RBAC of a cluster install) at seeded random
// points of its runs: a run is asked for, the controller is killed after
// a random delay (while Velero backs up, while it seals, writes the audit
// entry, or applies retention, which keeps 2; audit writes are held 100ms
// at the proxy so that kills land in them, and are counted), then
// restarted. After each restart the run completes, and: the audit chain
// verifies; no backup has two seal entries; every sealed copy offsite
// verifies (no seal.json for an incomplete copy); every run's backup was
// sealed exactly once; no seal marker (sealing.json) is left.
//
// Every chaosDrillEvery-th kill lands in a RestoreDrill run instead
// (staging, Velero's Restore, the checks, the cleanup; the workload has
// chaosConfigMaps ConfigMaps so that the Restore takes seconds): after the
// restart the run is recorded once in the audit log (as interrupted when
// it had no verdict), nothing of it is left (scratch namespaces, staged
// Backup, Restore, modifiers, anything in the staging bucket), and the
// next drill passes. Then chaosFailingKills more land in runs of the
// drill made to fail, keeping a failed run's namespaces for a while
// (killFailingDrills): a failed run has the reason its entry records and
// the cleanup of an uninterrupted one, whoever ended it.
//
// The seed and count come from SAFEKEEP_CHAOS_SEED and
// SAFEKEEP_CHAOS_KILLS. Last, durable audit: with the bucket refusing
// audit writes a run is sealed, the controller killed, the bucket let
// through again, and the next controller writes the kept entries, each
// once. Then two replicas with leader election: the leader is killed
// mid-seal, the other completes the seal; a third replica joins, the
// leader is killed while Velero restores a drill's backup, the other
// records the run as interrupted, cleans up, and the next scheduled drill
// passes.
func TestChaos(t *testing.T) {
	kills, seed := envInt(t, chaosKillsEnv, chaosKills), envInt(t, chaosSeedEnv, chaosSeed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0)) //nolint:gosec // reproducible timing, not a secret
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{chaosBucket: false}, staging: []string{chaosStaging}, crds: true})
	s3, c := b.s3, b.cp.Client
	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	recipient := regexp.MustCompile(`age1[0-9a-z]+`).FindString(sk.ok(t, "keygen", "-o", dir+"/identity.txt"))
	sk.ok(t, "keygen", "--signing", "-o", dir+"/signing.key")
	signer, err := crypto.ParseSigningKey(readFile(t, dir+"/signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	createWorkload(t, c, chaosWorkload, "PHI-MARKER-"+randomHex(t, 8))
	addChaosFiller(t, c, chaosWorkload)
	gate := startAuditGate(t, s3.Endpoint)
	for _, o := range (sample.Offsite{
		Namespace: chaosNamespace, Name: "offsite", Endpoint: gate.url, Bucket: chaosBucket, Prefix: chaosPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{recipient}, SigningKeyPEM: readFile(t, dir+"/signing.key"),
	}).Objects() {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	kubeconfig := asServiceAccount(t, b)
	sched := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: chaosSchedule, Namespace: chaosNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:         "0 0 1 1 *", // runs are asked for, one per kill
			Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{chaosWorkload}},
			OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			Retention:        &v1alpha1.RetentionPolicy{KeepLast: chaosKeepBackups},
		},
	}
	if err := c.Create(ctx, sched); err != nil {
		t.Fatal(err)
	}
	offsite, err := storage.New(s3.Config(chaosBucket, chaosPrefix+"/safekeep/v1"))
	if err != nil {
		t.Fatal(err)
	}
	chk := &chaosChecker{offsite: offsite, keys: []crypto.VerifyKey{signer.Public()}}
	drills := newChaosDrills(t, c, s3.Minio(t), chk, readFile(t, dir+"/identity.txt"))

	ctl := startController(t, bin, kubeconfig)
	restart := func() *controllerProcess { return startController(t, bin, kubeconfig) }
	start, phases, auditKills := time.Now(), map[string]int{}, 0
	var runs []string
	for i := range kills {
		if i%chaosDrillEvery == chaosDrillEvery-1 { // a sealed backup exists by then
			delay := time.Duration(rng.Int64N(int64(chaosDrillMaxDelay)))
			phase := drills.killDrill(t, &ctl, restart, delay, runs)
			phases[phase]++
			continue
		}
		requested := time.Now().UTC().Truncate(time.Second).Add(time.Second) // distinct per run: names the Backup
		time.Sleep(time.Until(requested))
		runNow(t, c, sched, requested)
		runs = append(runs, v1alpha1.ManualBackupName(chaosNamespace, chaosSchedule, requested))
		delay := time.Duration(rng.Int64N(int64(chaosMaxDelay)))
		time.Sleep(delay)
		phase := runPhase(ctx, c, sched)
		phases[phase]++
		inAudit := gate.writing()
		if err := ctl.cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
		if inAudit {
			auditKills++
			phase += ", mid audit write"
		}
		<-ctl.done
		ctl = restart()
		waitRunEnded(t, c, sched, runs[len(runs)-1])
		if err := chk.check(ctx, runs); err != nil {
			t.Fatalf("after kill %d (%s after the run was asked for, %s): %v", i+1, delay.Round(time.Millisecond), phase, err)
		}
	}
	failing := drills.killFailingDrills(t, &ctl, restart, rng, runs)
	// Once retention has caught up, each backup it dropped has one entry.
	waitFor(t, "retention to catch up", chaosRunTimeout, func(ctx context.Context) (bool, error) {
		if err := chk.check(ctx, runs); err != nil {
			return false, err
		}
		for _, r := range runs[:len(runs)-min(len(runs), chaosKeepBackups)] {
			if chk.deletes[r] != 1 {
				t.Logf("backup %s has %d retention-delete entries", r, chk.deletes[r])
				return false, nil
			}
		}
		return chk.sealed == min(len(runs), chaosKeepBackups), nil
	})
	// Durable audit: the bucket refuses audit writes, a run is sealed (its
	// entry kept in the controller's outbox), the controller is killed,
	// the bucket takes audit writes again, a new controller writes the
	// entry: once.
	gate.refuse(true)
	requested := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(requested))
	runNow(t, c, sched, requested)
	runs = append(runs, v1alpha1.ManualBackupName(chaosNamespace, chaosSchedule, requested))
	waitRunEnded(t, c, sched, runs[len(runs)-1])
	if n := outboxLen(t, c); n == 0 {
		t.Fatal("no audit entry kept in the outbox while the bucket refused them")
	}
	if err := chk.check(ctx, runs); err == nil {
		t.Fatal("the run's seal entry is in the log although the bucket refused audit writes")
	}
	if err := ctl.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-ctl.done
	gate.refuse(false)
	ctl = startController(t, bin, kubeconfig)
	waitFor(t, "the kept audit entries written", chaosRunTimeout, func(ctx context.Context) (bool, error) {
		return outboxLen(t, c) == 0 && chk.check(ctx, runs) == nil, nil
	})
	if err := chk.check(ctx, runs); err != nil {
		t.Fatal(err)
	}
	// Two replicas with leader election: the leader is killed mid-run and
	// the other takes the Lease and completes the seal.
	ctl.stop(t)
	leader := startController(t, bin, kubeconfig, "--leader-elect")
	waitFor(t, "the first replica to lead", time.Minute, func(context.Context) (bool, error) { return leads(t, leader), nil })
	standby := startController(t, bin, kubeconfig, "--leader-elect")
	time.Sleep(time.Second) // both running
	requested = time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(requested))
	runNow(t, c, sched, requested)
	runs = append(runs, v1alpha1.ManualBackupName(chaosNamespace, chaosSchedule, requested))
	killAt, phase := time.Now(), ""
	for phase != v1alpha1.ReasonSealing && time.Since(killAt) < chaosMaxDelay { // mid-seal, as far as status tells
		phase = runPhase(ctx, c, sched)
		time.Sleep(10 * time.Millisecond)
	}
	offset := time.Since(killAt)
	killLeader(t, leader, standby)
	waitRunEnded(t, c, sched, runs[len(runs)-1])
	if err := chk.check(ctx, runs); err != nil {
		t.Fatalf("after the leader was killed while %s: %v", phase, err)
	}
	t.Logf("leader killed while %s, %s after the run was asked for; the standby completed it", phase, offset.Round(time.Millisecond))
	// The leader killed mid-drill, while Velero's Restore runs.
	ctl = drills.leaderKillMidDrill(t, standby, func() *controllerProcess { return startController(t, bin, kubeconfig, "--leader-elect") }, runs)
	if strings.Contains(ctl.log.String(), "audit entry not kept in the cluster") {
		t.Errorf("the controller could not keep audit entries in its outbox (RBAC?)")
	}
	t.Logf("chaos: %d SIGKILLs survived (seed %d) in %s; killed while %v, %d of them mid audit write; %d audit entries, 0 lost, 0 duplicated; %d sealed, 0 half-seals, 0 seal markers left; drills: %d interrupted, %d passed, %d failed and kept (%d of them ended by the next controller as the entry the killed one recorded said), every run's status naming its one entry, nothing left; failing drills: %s",
		kills+chaosFailingKills, seed, time.Since(start).Round(time.Second), phases, auditKills, chk.entries, chk.sealed, drills.interrupted, drills.passed, drills.failed, drills.resumed, failing)
}

// chaosChecker checks the invariants of the offsite bucket after a restart.
type chaosChecker struct {
	offsite storage.Store
	keys    []crypto.VerifyKey
	// entries, sealed, deletes and drillEntries (each drill run's
	// entries, by subject) are the figures of the last check.
	entries, sealed int
	deletes         map[string]int
	drillEntries    map[string][]chaosDrillEntry
}

// chaosDrillEntry is a drill run's entry in the log: its seq and hash,
// and the verdict it records (a drill run's Result; Error for a failure
// entry, with its reason).
type chaosDrillEntry struct {
	seq    uint64
	hash   string
	result v1alpha1.DrillRunResult
	reason string
}

// drillEntryOf reads a drill run's entry e.
func drillEntryOf(e *audit.Entry) (chaosDrillEntry, error) {
	out := chaosDrillEntry{seq: e.Seq, hash: e.Hash, result: v1alpha1.DrillRunError}
	var d struct {
		Passed bool
		Reason string
	}
	if err := json.Unmarshal(e.Details, &d); err != nil {
		return out, fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	out.reason = d.Reason // a failure's, or a failed verdict's
	switch {
	case e.Kind == audit.KindFailure:
	case d.Passed:
		out.result = v1alpha1.DrillRunPassed
	default:
		out.result = v1alpha1.DrillRunFailed
	}
	return out, nil
}

// check verifies the audit chain and every sealed copy, and that each run
// of runs (its Velero Backup) has exactly one seal entry.
func (k *chaosChecker) check(ctx context.Context, runs []string) error {
	rep, err := audit.Verify(ctx, k.offsite, audit.VerifyOptions{Keys: k.keys})
	if err != nil {
		return fmt.Errorf("audit verify: %w (%v)", err, rep.Problems)
	}
	k.entries = rep.Entries
	seals, deletes := map[string]int{}, map[string]int{}
	k.drillEntries = map[string][]chaosDrillEntry{}
	for e, err := range audit.Read(ctx, k.offsite, audit.ReadOptions{}) {
		if err != nil {
			return err
		}
		if drillRun := chaosNamespace + "/" + chaosDrill + "/"; strings.HasPrefix(e.Subject, drillRun) && (e.Kind == audit.KindDrill || e.Kind == audit.KindFailure) {
			de, err := drillEntryOf(e)
			if err != nil {
				return err
			}
			k.drillEntries[e.Subject] = append(k.drillEntries[e.Subject], de)
			if n := len(k.drillEntries[e.Subject]); n > 1 {
				return fmt.Errorf("drill run %s has %d audit entries: %v", e.Subject, n, k.drillEntries[e.Subject])
			}
			continue
		}
		var d struct{ Backup string }
		if err := json.Unmarshal(e.Details, &d); err != nil {
			return fmt.Errorf("entry %d: %w", e.Seq, err)
		}
		switch e.Kind {
		case audit.KindSeal:
			seals[d.Backup]++
		case audit.KindRetentionDelete:
			deletes[d.Backup]++
		}
	}
	k.deletes = deletes
	for _, r := range runs {
		if seals[r] != 1 {
			return fmt.Errorf("backup %s has %d seal entries, want 1 (all: %v)", r, seals[r], seals)
		}
		if deletes[r] > 1 {
			return fmt.Errorf("backup %s has %d retention-delete entries, want at most 1", r, deletes[r])
		}
	}
	entries, err := seal.ListTrusted(ctx, k.offsite, k.keys, seal.Binding{})
	if err != nil {
		return err
	}
	k.sealed = 0
	for _, e := range entries {
		if !e.Restorable() {
			continue
		}
		k.sealed++
		if _, err := seal.Verify(ctx, k.offsite, e.Schedule, e.Backup, seal.VerifyOptions{TrustedKeys: k.keys, Quick: true}); err != nil {
			return fmt.Errorf("sealed copy %s/%s: %w", e.Schedule, e.Backup, err)
		}
	}
	if k.sealed > chaosKeepBackups {
		return fmt.Errorf("%d sealed copies offsite, retention keeps %d", k.sealed, chaosKeepBackups)
	}
	return k.noSealMarkers(ctx)
}

// noSealMarkers checks that no seal marker (sealing.json) is left: every
// run checked has ended, so none can be resumed.
func (k *chaosChecker) noSealMarkers(ctx context.Context) error {
	for info, err := range k.offsite.List(ctx, "backups/") {
		if err != nil {
			return err
		}
		if strings.HasSuffix(info.Key, "/sealing.json") {
			return fmt.Errorf("seal marker %s left after its run ended", info.Key)
		}
	}
	return nil
}

// outboxLen counts the audit entries kept in the controller's outbox.
func outboxLen(t *testing.T, c client.Client) int {
	t.Helper()
	var cms corev1.ConfigMapList
	if err := c.List(t.Context(), &cms, client.InNamespace(chaosNamespace), client.HasLabels{v1alpha1.LabelAuditOutbox}); err != nil {
		t.Fatal(err)
	}
	return len(cms.Items)
}

// auditGate is a loopback proxy in front of the S3 server that, when told
// to, refuses the audit log's requests (503 SlowDown) and passes the rest.
// It holds each audit write (PUT) for chaosAuditHold, so that kills land
// in audit writes too, and tells whether one is in flight.
type auditGate struct {
	url      string
	refused  atomic.Bool
	inflight atomic.Int32
}

// chaosAuditHold is how long the gate holds each audit write.
const chaosAuditHold = 100 * time.Millisecond

// writing reports whether an audit write is in flight through the gate.
func (g *auditGate) writing() bool { return g.inflight.Load() > 0 }

func startAuditGate(t *testing.T, upstream string) *auditGate {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g := &auditGate{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		audit := strings.Contains(r.URL.Path, "/safekeep/v1/audit/")
		if g.refused.Load() && audit {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`<Error><Code>SlowDown</Code><Message>refused by the test</Message></Error>`))
			return
		}
		if audit && r.Method == http.MethodPut {
			g.inflight.Add(1)
			defer g.inflight.Add(-1)
			time.Sleep(chaosAuditHold)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.url = srv.URL
	return g
}

func (g *auditGate) refuse(on bool) { g.refused.Store(on) }

// runNow asks for a run of a BackupSchedule or RestoreDrill at requested,
// as `safekeep backup now` and `safekeep drill run` do.
func runNow(t *testing.T, c client.Client, s client.Object, requested time.Time) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationRunNow, requested.Format(time.RFC3339))
	if err := c.Patch(t.Context(), s.DeepCopyObject().(client.Object), client.RawPatch("application/merge-patch+json", []byte(patch))); err != nil {
		t.Fatalf("run now: %v", err)
	}
}

// runPhase says what the schedule's run was doing, as far as its status
// tells, just before a kill.
func runPhase(ctx context.Context, c client.Client, s *v1alpha1.BackupSchedule) string {
	got := &v1alpha1.BackupSchedule{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), got); err != nil {
		return "unknown"
	}
	if _, asked := got.Annotations[v1alpha1.AnnotationRunNow]; asked {
		return "starting"
	}
	if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRunning); r != nil && r.Status == metav1.ConditionTrue {
		return r.Reason
	}
	return "after-seal" // retention, audit, status
}

// waitRunEnded waits until the schedule's run of backup has ended sealed.
func waitRunEnded(t *testing.T, c client.Client, s *v1alpha1.BackupSchedule, backup string) {
	t.Helper()
	waitFor(t, "run "+backup+" sealed", chaosRunTimeout, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.BackupSchedule{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s), got); err != nil {
			return false, err
		}
		if r := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionLastRunSucceeded); r != nil &&
			r.Status == metav1.ConditionFalse && strings.Contains(r.Message, backup) {
			return false, fmt.Errorf("run %s failed: %s: %s", backup, r.Reason, r.Message)
		}
		return got.Status.Active == "" && got.Status.LastSealedBackup == backup, nil
	})
}

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}
