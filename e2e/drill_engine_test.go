package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

const (
	drillSource    = "drill-src" // the backed-up namespace
	drillBackup    = "drill-b1"  // its Velero backup
	drillSchedule  = "nightly"
	drillOffsite   = "offsite-drill"
	drillStaging   = "staging" // bucket and BSL
	drillLabel     = "safekeep.dev/drill"
	drillRunLabel  = "safekeep.dev/drill-run"
	drillScratchPf = "dr-"
)

// drillBed is the shared test bed of the drill engine tests: a sealed copy
// of a Velero backup (and tampered copies of it, under other schedule
// names), a staging BSL, keys.
type drillBed struct {
	*bed
	offsite, staging storage.Store
	recipients       []crypto.Recipient
	ids              []crypto.Identity
	idText           string
	signer           crypto.SigningKey
}

// TestDrillEngine runs drill.Run and drill.Cleanup on the real stack
// (envtest, VersityGW, the real Velero server): a good backup passes every
// check and leaves nothing behind; each kind of damage fails the check
// that names it; two drills at once do not collide; the source namespace
// is never touched.
func TestDrillEngine(t *testing.T) {
	b := startBed(t, bedSpec{buckets: map[string]bool{drillOffsite: false}, staging: []string{drillStaging}})
	s3, cp, v, ctx := b.s3, b.cp, b.velero, t.Context()
	d := &drillBed{bed: b}
	d.offsite = sealtest.OpenStore(t, s3.Config(drillOffsite, "drills/safekeep/v1"))
	d.staging = sealtest.OpenStore(t, s3.Config(drillStaging, ""))
	d.recipients, d.ids, d.idText = sealtest.NewKeys(t)
	d.signer = sealtest.NewSigner(t)
	marker := "PHI-MARKER-" + randomHex(t, 8)
	createWorkload(t, cp.Client, drillSource, marker)
	bk := v.Backup(t, ctx, drillBackup, velerov1.BackupSpec{IncludedNamespaces: []string{drillSource}})
	if bk.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s, want Completed", bk.Status.Phase)
	}
	for _, schedule := range []string{drillSchedule, "flip", "gone", "badseal"} {
		d.seal(t, schedule, drillBackup)
	}
	before := d.sourceState(t)

	t.Run("good backup passes every check and cleanup leaves nothing", func(t *testing.T) { testDrillGood(t, d) })
	t.Run("damage fails the check that names it", func(t *testing.T) { testDrillDamage(t, d) })
	t.Run("RTO objective and verification Job", func(t *testing.T) { testDrillRTO(t, d) })
	t.Run("two drills at once do not collide", func(t *testing.T) { testDrillConcurrent(t, d) })
	t.Run("content differs from the backup", func(t *testing.T) { testDrillContent(t, d) })
	t.Run("incident restore CLI", func(t *testing.T) { testIncidentRestoreCLI(t, d) })

	t.Run("source namespace untouched", func(t *testing.T) {
		if after := d.sourceState(t); !maps.Equal(before, after) {
			t.Errorf("the source namespace changed:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// seal seals Velero backup into the offsite store under schedule.
func (d *drillBed) seal(t *testing.T, schedule, backup string) {
	t.Helper()
	s := &seal.Sealer{
		Source:     sealtest.OpenStore(t, d.s3.Config(veleroBucket, "")),
		Offsite:    d.offsite,
		Recipients: d.recipients,
		Signer:     d.signer,
	}
	if _, err := s.Seal(t.Context(), schedule, backup); err != nil {
		t.Fatalf("seal %s/%s: %v", schedule, backup, err)
	}
}

// options are a drill's options for run.
func (d *drillBed) options(schedule, run string) drill.Options {
	return drill.Options{
		Offsite: d.offsite, Identities: d.ids, TrustedKeys: []crypto.VerifyKey{d.signer.Public()},
		Schedule: schedule, Backup: drillBackup,
		Client: d.cp.Client, VeleroNamespace: testbed.VeleroNamespace,
		StagingLocation: drillStaging, Staging: d.staging,
		StagedName: "drill-engine-" + run,
		MapNamespace: func(ns string) string {
			return drill.ScratchNamespace(drillScratchPf, "engine", run, ns)
		},
		CreateNamespaces: true,
		Labels:           map[string]string{drillLabel: "engine", drillRunLabel: run},
		RestoreTimeout:   2 * time.Minute,
	}
}

// run runs a drill and registers its cleanup.
func (d *drillBed) run(t *testing.T, opts drill.Options) *drill.Result {
	t.Helper()
	t.Cleanup(func() {
		// t.Context() is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	start := time.Now()
	res, err := drill.Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("drill.Run: %v", err)
	}
	t.Logf("drill %s/%s: passed %v in %s (RTO %s)", opts.Schedule, opts.Backup, res.Passed, time.Since(start).Round(time.Millisecond), res.RTO.Round(time.Millisecond))
	for _, c := range res.Checks {
		t.Logf("  %-9s %-5v %s %v", c.Name, c.Passed, c.Message, c.Objects)
	}
	return res
}

// sourceState is every object of the source namespace (the kinds of the
// workload) by kind/name, with its resourceVersion.
func (d *drillBed) sourceState(t *testing.T) map[string]string {
	t.Helper()
	state := map[string]string{}
	ns := &corev1.Namespace{}
	if err := d.cp.Client.Get(t.Context(), client.ObjectKey{Name: drillSource}, ns); err != nil {
		t.Fatal(err)
	}
	state["Namespace/"+ns.Name] = ns.ResourceVersion
	for _, kind := range []string{"ConfigMap", "Secret", "Service", "PersistentVolumeClaim", "ServiceAccount"} {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind + "List"))
		if err := d.cp.Client.List(t.Context(), list, client.InNamespace(drillSource)); err != nil {
			t.Fatal(err)
		}
		for _, it := range list.Items {
			state[kind+"/"+it.Name] = it.ResourceVersion
		}
	}
	return state
}

// wantChecks fails the test unless exactly the named checks failed.
func wantChecks(t *testing.T, res *drill.Result, failed ...string) {
	t.Helper()
	if len(res.Checks) != len(drill.CheckNames) {
		t.Fatalf("%d checks, want %d", len(res.Checks), len(drill.CheckNames))
	}
	var got []string
	for i, c := range res.Checks {
		if c.Name != drill.CheckNames[i] {
			t.Errorf("check %d is %q, want %q", i, c.Name, drill.CheckNames[i])
		}
		if !c.Passed {
			got = append(got, c.Name)
		}
	}
	if !slices.Equal(got, failed) {
		t.Errorf("failed checks %v, want %v", got, failed)
	}
	if res.Passed != (len(failed) == 0) {
		t.Errorf("Passed = %v with failed checks %v", res.Passed, got)
	}
}

// checkNames fails the test unless check name's objects mention want.
func checkNames(t *testing.T, res *drill.Result, name, want string) {
	t.Helper()
	c, _ := res.Check(name)
	if !slices.ContainsFunc(c.Objects, func(o string) bool { return strings.Contains(o, want) }) {
		t.Errorf("check %s names %v, want one containing %q (message %q)", name, c.Objects, want, c.Message)
	}
}

func testDrillGood(t *testing.T, d *drillBed) {
	ctx := t.Context()
	opts := d.options(drillSchedule, "good")
	var phases []drill.Phase
	var mu sync.Mutex
	opts.Progress = func(s drill.Step) {
		mu.Lock()
		defer mu.Unlock()
		if len(phases) == 0 || phases[len(phases)-1] != s.Phase {
			phases = append(phases, s.Phase)
		}
	}
	res := d.run(t, opts)
	wantChecks(t, res)
	scratch := res.Namespaces[drillSource]
	if want := drill.ScratchNamespace(drillScratchPf, "engine", "good", drillSource); scratch != want {
		t.Errorf("namespaces %v, want %s -> %s", res.Namespaces, drillSource, want)
	}
	if !slices.Contains(phases, drill.PhaseStage) || !slices.Contains(phases, drill.PhaseRestore) || !slices.Contains(phases, drill.PhaseCheck) {
		t.Errorf("progress phases %v lack stage, restore or check", phases)
	}
	// The restored Secret holds the marker: the restore really happened.
	sec := &corev1.Secret{}
	if err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: scratch, Name: sample.SecretName}, sec); err != nil {
		t.Fatalf("restored Secret: %v", err)
	}
	if !strings.Contains(string(sec.Data[sample.SecretKey]), "PHI-MARKER-") {
		t.Errorf("restored Secret lacks the marker")
	}
	// The staged Backup is labelled as a drill's, on the staging location,
	// and carries none of the source's labels.
	bk := &velerov1.Backup{}
	if err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: opts.StagedName}, bk); err != nil {
		t.Fatalf("staged Backup: %v", err)
	}
	if bk.Labels[drill.LabelStaged] != "true" || bk.Spec.StorageLocation != drillStaging || bk.Labels[velerov1.StorageLocationLabel] != drillStaging || bk.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Errorf("staged Backup labels %v, location %s, phase %s", bk.Labels, bk.Spec.StorageLocation, bk.Status.Phase)
	}

	if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	ns := &corev1.Namespace{}
	err := d.cp.Client.Get(ctx, client.ObjectKey{Name: scratch}, ns)
	if err == nil && ns.DeletionTimestamp == nil { // envtest has no namespace controller: Terminating is gone
		t.Errorf("scratch namespace %s is still there, not terminating", scratch)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	for _, key := range []string{"backups/" + opts.StagedName + "/", "restores/" + opts.StagedName + "/"} {
		if left := sealtest.Snapshot(t, d.staging, key); len(left) > 0 {
			t.Errorf("staging location still holds %v", sealtest.Keys(left))
		}
	}
	// Velero's backup sync (every 5 s here) must not bring the staged
	// Backup back.
	time.Sleep(7 * time.Second)
	for _, obj := range []client.Object{&velerov1.Backup{}, &velerov1.Restore{}} {
		err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: opts.StagedName}, obj)
		if !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after cleanup: %v, want not found", obj, opts.StagedName, err)
		}
	}
}

func testDrillDamage(t *testing.T, d *drillBed) {
	ctx := t.Context()
	tar := drillBackup + ".tar.gz"
	// One object bit-flipped.
	key := seal.ObjectKey("flip", drillBackup, tar)
	data := sealtest.Get(t, d.offsite, key)
	data[len(data)/2] ^= 0x01
	sealtest.Put(t, d.offsite, key, data)
	// One object deleted.
	if err := d.offsite.Delete(ctx, seal.ObjectKey("gone", drillBackup, seal.VeleroBackupJSON)); err != nil {
		t.Fatal(err)
	}
	// seal.json altered (a date changed, the signature kept).
	sk := seal.SealKey("badseal", drillBackup)
	var doc map[string]any
	if err := json.Unmarshal(sealtest.Get(t, d.offsite, sk), &doc); err != nil {
		t.Fatal(err)
	}
	doc["seal"].(map[string]any)["sealedAt"] = "1999-01-01T00:00:00Z"
	altered, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	sealtest.Put(t, d.offsite, sk, altered)
	_, otherIDs, _ := sealtest.NewKeys(t)

	cases := []struct {
		name, schedule string
		ids            []crypto.Identity
		failed         []string
		names          string // an object the first failed check names
		says           string // in the first failed check's message
	}{
		{"bit flip", "flip", nil, []string{"seal", "decrypt", "restore", "presence", "content", "rto", "job", "volumes"}, tar, "does not match its seal"},
		{"deleted object", "gone", nil, []string{"seal", "decrypt", "restore", "presence", "content", "rto", "job", "volumes"}, seal.VeleroBackupJSON, "missing"},
		{"altered seal", "badseal", nil, []string{"seal", "decrypt", "restore", "presence", "content", "rto", "job", "volumes"}, "seal.json", "signature"},
		{"wrong identity", drillSchedule, otherIDs, []string{"decrypt", "restore", "presence", "content", "rto", "job", "volumes"}, "manifest.json.age", "identity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := d.options(tc.schedule, strings.ReplaceAll(tc.name, " ", "-"))
			if tc.ids != nil {
				opts.Identities = tc.ids
			}
			res := d.run(t, opts)
			wantChecks(t, res, tc.failed...)
			checkNames(t, res, tc.failed[0], tc.names)
			if c, _ := res.Check(tc.failed[0]); !strings.Contains(c.Message, tc.says) {
				t.Errorf("check %s says %q, want it to mention %q", c.Name, c.Message, tc.says)
			}
			if res.Restore != "" || res.StagedBackup != "" {
				t.Errorf("a backup that failed verification was staged: %+v", res)
			}
		})
	}
}

func testDrillRTO(t *testing.T, d *drillBed) {
	opts := d.options(drillSchedule, "rto")
	opts.MaxRTO = time.Millisecond
	// No kubelet runs here: the Job never finishes, and its check says so.
	opts.Job = &drill.JobSpec{Image: "registry.example/verify:1", Command: []string{"/verify"}, Timeout: 3 * time.Second}
	res := d.run(t, opts)
	wantChecks(t, res, drill.CheckRTO, drill.CheckJob)
	if c, _ := res.Check(drill.CheckRTO); !strings.Contains(c.Message, "exceeds the objective") {
		t.Errorf("rto check: %q", c.Message)
	}
	if c, _ := res.Check(drill.CheckJob); !strings.Contains(c.Message, "did not finish") {
		t.Errorf("job check: %q", c.Message)
	}
}

func testDrillConcurrent(t *testing.T, d *drillBed) {
	var wg sync.WaitGroup
	results := make([]*drill.Result, 2)
	errs := make([]error, 2)
	opts := []drill.Options{d.options(drillSchedule, "par-a"), d.options(drillSchedule, "par-b")}
	for i := range opts {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := drill.Cleanup(ctx, drill.CleanupFor(opts[i])); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
		wg.Go(func() { results[i], errs[i] = drill.Run(t.Context(), opts[i]) })
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("drill %d: %v", i, errs[i])
		}
		wantChecks(t, res)
	}
	if results[0].Namespaces[drillSource] == results[1].Namespaces[drillSource] {
		t.Errorf("both drills restored into %s", results[0].Namespaces[drillSource])
	}
}

// testDrillContent restores, as a responder would, into a namespace that
// still holds a stale copy of the ConfigMap: Velero leaves it (existing
// resource policy none, with a warning), and the content check names it.
func testDrillContent(t *testing.T, d *drillBed) {
	ctx := t.Context()
	dest := "drill-stale"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dest}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: sample.ConfigMapName, Namespace: dest}, Data: map[string]string{"LOG_LEVEL": "debug"}},
	} {
		if err := d.cp.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	opts := d.options(drillSchedule, "stale")
	opts.MapNamespace, opts.CreateNamespaces = nil, false
	opts.NamespaceMapping = map[string]string{drillSource: dest}
	res := d.run(t, opts)
	wantChecks(t, res, drill.CheckContent, drill.CheckRTO)
	checkNames(t, res, drill.CheckContent, "/ConfigMap "+drillSource+"/"+sample.ConfigMapName)
	if c, _ := res.Check(drill.CheckRestore); !strings.Contains(c.Message, "1 warning") {
		t.Errorf("restore check %q: want Velero's warning about the existing ConfigMap", c.Message)
	}

	warned := opts
	warned.StagedName, warned.Warnings = "drill-engine-stale-w", drill.WarningsFail
	res = d.run(t, warned)
	wantChecks(t, res, drill.CheckRestore, drill.CheckContent, drill.CheckRTO)
	checkNames(t, res, drill.CheckRestore, sample.ConfigMapName)
}

// testIncidentRestoreCLI runs `safekeep restore` as a responder would:
// through Velero in the kubeconfig's cluster with a namespace mapping, then
// into a directory with resources/ as YAML.
func testIncidentRestoreCLI(t *testing.T, d *drillBed) {
	ctx := t.Context()
	dir := t.TempDir()
	sk := newCLI(t, d.s3)
	sk.env = append(sk.env, "KUBECONFIG="+d.cp.Kubeconfig)
	identity := writeFile(t, dir, "identity.txt", d.idText)
	pem, err := d.signer.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	signingKey := writeFile(t, dir, "signing.key", string(pem))
	target := targetManifest{endpoint: d.s3.Endpoint, bucket: drillOffsite, prefix: "drills", recipients: []string{d.recipients[0].Text},
		signingPublicKey: d.signer.Public().String()}.write(t, dir)
	ref := drillSchedule + "/" + drillBackup
	dest := "incident-restored"

	t.Run("into the cluster", func(t *testing.T) {
		stdout, stderr, err := sk.run(t, "restore", "--target-file", target, "--backup", ref, "--identity", identity,
			"--namespace-mapping", drillSource+":"+dest, "--staging-location", drillStaging, "--signing-key", signingKey)
		if err != nil {
			t.Fatalf("restore: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
		for _, want := range []string{"restored and verified", "content      ok", "presence     ok", drillSource + " -> " + dest} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, stdout)
			}
		}
		if !strings.Contains(stdout, "audit entry 1 recorded") || strings.Contains(stderr, "no audit entry") {
			t.Errorf("the audit entry is not reported:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "AGE-SECRET-KEY") {
			t.Errorf("the CLI printed the identity")
		}
		cm := &corev1.ConfigMap{}
		if err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: dest, Name: sample.ConfigMapName}, cm); err != nil {
			t.Errorf("restored ConfigMap: %v", err)
		}
		// The staged copy is gone; the Restore stays as the record.
		var backups velerov1.BackupList
		if err := d.cp.Client.List(ctx, &backups, client.InNamespace(testbed.VeleroNamespace), client.HasLabels{"safekeep.dev/incident-restore"}); err != nil {
			t.Fatal(err)
		}
		if len(backups.Items) != 0 {
			t.Errorf("staged Backups left: %d", len(backups.Items))
		}
		var restores velerov1.RestoreList
		if err := d.cp.Client.List(ctx, &restores, client.InNamespace(testbed.VeleroNamespace), client.HasLabels{"safekeep.dev/incident-restore"}); err != nil {
			t.Fatal(err)
		}
		if len(restores.Items) != 1 {
			t.Errorf("Restores of the incident restore: %d, want 1", len(restores.Items))
		}
		if entries := sealtest.Snapshot(t, d.offsite, "audit/"); len(entries) == 0 {
			t.Errorf("no audit entry in the bucket")
		}
	})

	t.Run("isolated, as a drill", func(t *testing.T) {
		dest := "incident-isolated"
		stdout := sk.ok(t, "restore", "--target-file", target, "--backup", ref, "--identity", identity,
			"--namespace-mapping", drillSource+":"+dest, "--staging-location", drillStaging, "--signing-key", signingKey, "--isolated")
		if want := "isolation: workloads Inert; modified: 1 Deployment.apps"; !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
		dep := &appsv1.Deployment{}
		if err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: dest, Name: sample.DeploymentName}, dep); err != nil {
			t.Fatal(err)
		}
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 0 {
			t.Errorf("Deployment replicas %v, want 0", ptr.Deref(dep.Spec.Replicas, -1))
		}
		if err := d.cp.Client.Get(ctx, client.ObjectKey{Namespace: dest, Name: drill.NetworkPolicyName}, &networkingv1.NetworkPolicy{}); err != nil {
			t.Errorf("NetworkPolicy: %v", err)
		}
		// Its namespaces exist now: a second isolated restore into them is refused.
		_, stderr, err := sk.run(t, "restore", "--target-file", target, "--backup", ref, "--identity", identity,
			"--namespace-mapping", drillSource+":"+dest, "--staging-location", drillStaging, "--isolated")
		if err == nil || !strings.Contains(stderr, "exists already") {
			t.Errorf("isolated restore into an existing namespace: %v\n%s", err, stderr)
		}
		var cms corev1.ConfigMapList
		if err := d.cp.Client.List(ctx, &cms, client.InNamespace(testbed.VeleroNamespace), client.HasLabels{"safekeep.dev/incident-restore"}); err != nil {
			t.Fatal(err)
		}
		if len(cms.Items) != 0 {
			t.Errorf("resource modifiers ConfigMaps left: %d", len(cms.Items))
		}
	})

	t.Run("a wrong identity fails with exit 1", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.txt")
		sk.ok(t, "keygen", "-o", other)
		stdout, stderr, err := sk.run(t, "restore", "--target-file", target, "--backup", ref, "--identity", other,
			"--namespace-mapping", drillSource+":incident-wrong", "--staging-location", drillStaging)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v, want 1\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
		}
		if !strings.Contains(stdout, "decrypt      FAIL") || !strings.Contains(stderr, "checks failed") {
			t.Errorf("want the decrypt check failed:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		if !strings.Contains(stderr, "no audit entry written") {
			t.Errorf("stderr does not say no audit entry was written:\n%s", stderr)
		}
	})

	t.Run("to a directory with resources as YAML", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "restored")
		stdout := sk.ok(t, "restore", "--target-file", target, "--backup", ref, "--identity", identity, "--to-dir", out)
		if !strings.Contains(stdout, "resources as YAML") {
			t.Errorf("stdout:\n%s", stdout)
		}
		data, err := os.ReadFile(filepath.Join(out, "resources", "namespaces", drillSource, "configmaps", sample.ConfigMapName+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		y := string(data)
		for _, want := range []string{"kind: ConfigMap", "name: " + sample.ConfigMapName, "LOG_LEVEL: info"} {
			if !strings.Contains(y, want) {
				t.Errorf("ConfigMap YAML lacks %q:\n%s", want, y)
			}
		}
		for _, unwanted := range []string{"uid:", "resourceVersion:", "creationTimestamp:", "managedFields:"} {
			if strings.Contains(y, unwanted) {
				t.Errorf("ConfigMap YAML keeps %q:\n%s", unwanted, y)
			}
		}
		for _, p := range []string{
			"namespaces/" + drillSource + "/deployments.apps/" + sample.DeploymentName + ".yaml",
			"namespaces/" + drillSource + "/secrets/" + sample.SecretName + ".yaml",
			"cluster/namespaces/" + drillSource + ".yaml",
		} {
			if _, err := os.Stat(filepath.Join(out, "resources", filepath.FromSlash(p))); err != nil {
				t.Errorf("resources/%s: %v", p, err)
			}
		}
	})
}
