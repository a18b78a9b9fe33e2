package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	mwBucket   = "offsite-shared"
	mwPrefix   = "shared"
	mwStaging  = "mw-staging"
	mwWorkload = "phi-multiwriter"
	mwSchedule = "nightly"
	mwDrill    = "weekly"
	// mwActorB is the audit actor of the second cluster's controller.
	mwActorB = "system:serviceaccount:safekeep-system:cluster-b"
	// mwRestores restores run mwParallel at a time; mwChanges target
	// changes are made on each cluster.
	mwRestores, mwParallel, mwChanges = 6, 3, 6
	// mwSeals seals and mwDrills drills run one after the other.
	mwSeals, mwDrills = 2, 2
	// mwAux is cluster A's second target on the log, which no schedule
	// uses: changing it does not stop the seals and drills (a changed
	// target is not Ready until checked again).
	mwAux = "aux"
)

// TestConcurrentLogWriters: several processes append to one audit log at
// once, through the claim protocol (docs/audit.md): safekeep-controller of
// cluster A (real API server, real Velero, VersityGW) seals a backup and
// runs a drill, safekeep-controller of cluster B (a second API server,
// its OffsiteTarget on the same bucket and prefix) records changes of its
// target while A records changes of its own, and `safekeep restore
// --to-dir` runs mwParallel at a time. Afterwards `safekeep audit verify`
// passes, the entry objects hold seq 1..N each exactly once, and each
// writer's entries are there exactly once: each restore's printed seq and
// hash, the seal, the drill's status entry, every target change.
func TestConcurrentLogWriters(t *testing.T) {
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{mwBucket: false}, staging: []string{mwStaging}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cpB := testbed.StartControlPlane(t, testbed.WithCRDs(root+"/deploy/crd"))
	cpB.InstallCRDs(t, testbed.VeleroCRDPaths(t)...)

	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	keys := newControllerKeys(t, sk, dir)
	signing, err := crypto.ParseSigningKey(keys.signingPEM)
	if err != nil {
		t.Fatal(err)
	}
	signingPub := signing.Public()
	restoreKey := filepath.Join(dir, "restore.key")
	restorePub := regexp.MustCompile(`ed25519:\S+`).FindString(sk.ok(t, "keygen", "--signing", "-o", restoreKey))
	if restorePub == "" {
		t.Fatal("keygen --signing printed no public key")
	}

	// One target per cluster, on the same bucket and prefix: one log.
	offsite := sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: mwBucket, Prefix: mwPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
	}
	// createTarget creates the target, its Secrets and extra in c; with
	// aux, also a second target on the same log.
	createTarget := func(c client.Client, aux bool, extra ...client.Object) {
		t.Helper()
		objs := offsite.Objects()
		for _, o := range objs {
			if tgt, ok := o.(*v1alpha1.OffsiteTarget); ok {
				tgt.Spec.AuditKeys = []string{restorePub}
				if aux {
					a := tgt.DeepCopy()
					a.Name = mwAux
					extra = append(extra, a)
				}
			}
		}
		for _, o := range append(objs, extra...) {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("create %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	createWorkload(t, c, mwWorkload, "PHI-MARKER-"+randomHex(t, 16))
	createTarget(c, true,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace},
			Data:       map[string][]byte{"identity": readFile(t, keys.identity)},
		},
		&v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: mwSchedule, Namespace: ctlNamespace},
			Spec: v1alpha1.BackupScheduleSpec{
				Schedule:         "0 3 1 1 *", // runs are asked for
				Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{mwWorkload}},
				OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			},
		},
		&v1alpha1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: mwDrill, Namespace: ctlNamespace},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule:          "0 3 1 1 *",
				BackupScheduleRef: corev1.LocalObjectReference{Name: mwSchedule},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"},
				Staging:           mwStaging,
			},
		})
	if err := cpB.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testbed.VeleroNamespace}}); err != nil {
		t.Fatal(err)
	}
	createTarget(cpB.Client, false)

	startController(t, bin, asServiceAccount(t, b), "--leader-elect", "--namespace", ctlNamespace)
	startController(t, bin, cpB.Kubeconfig, "--leader-elect", "--namespace", ctlNamespace, "--audit-actor", mwActorB)
	targetKey := client.ObjectKey{Namespace: ctlNamespace, Name: "offsite"}
	auxKey := client.ObjectKey{Namespace: ctlNamespace, Name: mwAux}
	// changed is the target each cluster changes during the writes.
	changed := map[string]client.ObjectKey{"A": auxKey, "B": targetKey}
	clusters := map[string]client.Client{"A": c, "B": cpB.Client}
	// changes are the entries that recorded each cluster's target
	// changes, as the targets' status.audited named them.
	changes := map[string][]uint64{}
	for name, key := range map[string]client.ObjectKey{"A " + mwAux: auxKey, "A offsite": targetKey, "B offsite": targetKey} {
		cc := clusters[name[:1]]
		waitFor(t, "cluster "+name+" recorded", 2*time.Minute, func(ctx context.Context) (bool, error) {
			tgt := &v1alpha1.OffsiteTarget{}
			err := cc.Get(ctx, key, tgt)
			if err != nil || tgt.Status.Audited == nil || tgt.Status.Audited.Entry == 0 {
				return false, err
			}
			changes[name[:1]] = append(changes[name[:1]], tgt.Status.Audited.Entry)
			return true, nil
		})
	}
	waitFor(t, "the schedule and the drill Ready", 2*time.Minute, func(ctx context.Context) (bool, error) {
		s, d := &v1alpha1.BackupSchedule{}, &v1alpha1.RestoreDrill{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: mwSchedule}, s); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: mwDrill}, d); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady) &&
			meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady), nil
	})
	kube := []string{"-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig}
	first := dcSealedBackup(t, sk, kube, mwSchedule)
	targetFile := targetManifest{endpoint: s3.Endpoint, bucket: mwBucket, prefix: mwPrefix, recipients: []string{keys.recipient},
		signingPublicKey: signingPub.String(), auditKeys: []string{restorePub}}.write(t, dir)

	// All at once: seals and drills (cluster A), restores, and target
	// changes on both clusters.
	start := time.Now()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		restored = map[uint64]string{} // seq -> hash, as each restore printed it
		sealed   = []string{first}
	)
	wg.Go(func() {
		for range mwSeals {
			b := dcSealedBackup(t, sk, kube, mwSchedule)
			mu.Lock()
			sealed = append(sealed, b)
			mu.Unlock()
		}
	})
	drillEntries := map[uint64]string{} // seq -> hash, from the drill's status
	wg.Go(func() {
		for range mwDrills {
			sk.ok(t, append([]string{"drill", "run", mwDrill, "--timeout", dcTimeout.String()}, kube...)...)
			run := dcDrill(t, c, mwDrill).Status.LastRun
			if run == nil || run.AuditEntry == nil {
				t.Errorf("drill run %+v: no audit entry", run)
				continue
			}
			mu.Lock()
			drillEntries[uint64(run.AuditEntry.Seq)] = run.AuditEntry.Hash //nolint:gosec // small
			mu.Unlock()
		}
	})
	sem := make(chan struct{}, mwParallel)
	for i := range mwRestores {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out := sk.ok(t, "restore", "--target-file", targetFile, "--backup", mwSchedule+"/"+first, "--identity", keys.identity,
				"--to-dir", filepath.Join(dir, "restored-"+strconv.Itoa(i)), "--signing-key", restoreKey)
			m := regexp.MustCompile(`audit entry (\d+) recorded \((sha256:[0-9a-f]+)\)`).FindStringSubmatch(out)
			if m == nil {
				t.Errorf("restore %d printed no audit entry:\n%s", i, out)
				return
			}
			seq, _ := strconv.ParseUint(m[1], 10, 64)
			mu.Lock()
			defer mu.Unlock()
			if other, ok := restored[seq]; ok {
				t.Errorf("two restores were told they recorded entry %d (%s and %s)", seq, other, m[2])
			}
			restored[seq] = m[2]
		})
	}
	for name, cc := range clusters {
		key := changed[name]
		wg.Go(func() {
			for i := range mwChanges {
				days := int32(2191 + i) //nolint:gosec // small
				patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"audit":{"retainDays":%d}}}`, days))
				if err := cc.Patch(ctx, &v1alpha1.OffsiteTarget{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}, patch); err != nil {
					t.Errorf("cluster %s: patch the target: %v", name, err)
					return
				}
				var entry uint64
				waitFor(t, fmt.Sprintf("cluster %s's change %d recorded", name, i+1), time.Minute, func(ctx context.Context) (bool, error) {
					tgt := &v1alpha1.OffsiteTarget{}
					err := cc.Get(ctx, key, tgt)
					if err != nil || tgt.Status.Audited == nil || tgt.Status.Audited.AuditRetainDays != days {
						return false, err
					}
					entry = tgt.Status.Audited.Entry
					return true, nil
				})
				mu.Lock()
				changes[name] = append(changes[name], entry)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("concurrent writes done in %s", time.Since(start).Round(time.Millisecond))
	// On: what the log holds is worth seeing even when a writer failed.
	out, stderr, err := sk.run(t, "audit", "verify", "--target-file", targetFile, "-o", "json")
	if err != nil {
		t.Errorf("audit verify: %v\n%s%s", err, out, stderr)
	}
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Errorf("audit verify -o json: %v\n%s", err, out)
	} else if rep.ProblemCount != 0 || rep.Pending != 0 || uint64(rep.Entries) != rep.HeadSeq { //nolint:gosec // small
		t.Errorf("audit verify: %d entries, head %d, %d pending, problems %+v; want intact, seq 1..N", rep.Entries, rep.HeadSeq, rep.Pending, rep.Problems)
	}

	// The entry objects themselves: seq 1..N, each exactly once.
	bySeq := map[uint64]*audit.Entry{}
	entryKey := regexp.MustCompile(`/audit/\d{17}/\d{20}-[0-9a-f]{16}\.json$`)
	for key, body := range readObjects(t, s3.Minio(t), mwBucket, mwPrefix+"/safekeep/v1/audit/") {
		if !entryKey.MatchString(key) {
			continue
		}
		e := &audit.Entry{}
		if err := json.Unmarshal(body, e); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if other, ok := bySeq[e.Seq]; ok {
			t.Errorf("seq %d twice: %s by %s and %s by %s", e.Seq, other.Kind, other.Actor, e.Kind, e.Actor)
		}
		bySeq[e.Seq] = e
	}
	n := uint64(len(bySeq))
	for seq := uint64(1); seq <= n; seq++ {
		if bySeq[seq] == nil {
			t.Errorf("no entry %d of %d", seq, n)
		}
	}
	if n != rep.HeadSeq {
		t.Errorf("%d entry objects, head %d", n, rep.HeadSeq)
	}

	// Each writer's entries, exactly once.
	count := map[string]int{}
	seen := map[string]uint64{}
	for seq := uint64(1); seq <= n; seq++ {
		e := bySeq[seq]
		if e == nil {
			continue
		}
		// Target changes made within a second can be recorded alike
		// (their details name the field manager and the second): they are
		// checked by the entries their targets' status named, below.
		id := e.Actor + " " + string(e.Kind) + " " + e.Subject + " " + string(e.Details)
		if prev, ok := seen[id]; ok && e.Kind != audit.KindTargetChange {
			t.Errorf("entries %d and %d are the same record (%s %s by %s)", prev, seq, e.Kind, e.Subject, e.Actor)
		}
		seen[id] = seq
		who := "A"
		switch {
		case e.Actor == mwActorB:
			who = "B"
		case strings.Contains(e.Actor, "@"):
			who = "cli"
		}
		count[who+" "+string(e.Kind)]++
	}
	for seq, hash := range restored {
		if e := bySeq[seq]; e == nil || e.Hash != hash || e.Kind != audit.KindRestore {
			t.Errorf("restore's entry %d (%s) is %s in the log", seq, hash, describeEntry(e))
		}
	}
	for name, seqs := range changes {
		actor := map[string]string{"A": "system:serviceaccount:", "B": mwActorB}[name]
		if distinct := len(slices.Compact(slices.Sorted(slices.Values(seqs)))); distinct != len(seqs) {
			t.Errorf("cluster %s's target statuses named entries %v: %d distinct", name, seqs, distinct)
		}
		for _, seq := range seqs {
			if e := bySeq[seq]; e == nil || e.Kind != audit.KindTargetChange || !strings.HasPrefix(e.Actor, actor) {
				t.Errorf("cluster %s's change entry %d is %s in the log", name, seq, describeEntry(e))
			}
		}
	}
	for seq, hash := range drillEntries {
		if e := bySeq[seq]; e == nil || e.Hash != hash || e.Kind != audit.KindDrill {
			t.Errorf("the drill's entry %d (%s, from its status) is %s in the log", seq, hash, describeEntry(e))
		}
	}
	if len(drillEntries) != mwDrills {
		t.Errorf("the drill's status named %d distinct entries, want %d", len(drillEntries), mwDrills)
	}
	want := map[string]int{
		"cli " + string(audit.KindRestore):    mwRestores,
		"A " + string(audit.KindSeal):         1 + mwSeals,
		"A " + string(audit.KindDrill):        mwDrills,
		"A " + string(audit.KindTargetChange): 2 + mwChanges,
		"B " + string(audit.KindTargetChange): 1 + mwChanges,
	}
	for k, v := range want {
		if count[k] != v {
			t.Errorf("%s entries: %d, want %d (all: %v)", k, count[k], v, count)
		}
	}
	t.Logf("%d entries, by writer and kind %v; sealed %v", n, count, sealed)
}

// describeEntry names an entry's kind, subject, actor and hash, or says
// there is none.
func describeEntry(e *audit.Entry) string {
	if e == nil {
		return "missing"
	}
	return fmt.Sprintf("%s %s by %s (%s)", e.Kind, e.Subject, e.Actor, e.Hash)
}
