package e2e

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	dcWorkload = "phi-drilled"
	dcBucket   = "offsite-drills"
	dcStaging  = "drill-staging" // bucket and BackupStorageLocation
	dcPrefix   = "cluster-d"
	dcSchedule = "nightly"
	// dcTimeout bounds one `safekeep drill run`.
	dcTimeout = 3 * time.Minute
)

// TestDrillController runs RestoreDrills on the real stack (envtest,
// VersityGW, the real Velero server, safekeep-controller as a process):
// two drills of a good sealed backup, asked for with `safekeep drill run`
// at the same time, both pass every check without colliding, and leave no
// scratch namespace or staged backup behind; a drill of a backup whose
// offsite tarball has one bit flipped fails, naming the seal check and the
// object, and `safekeep drill run` exits 1; so do, each naming its check,
// drills of a backup with a deleted object (seal) or an altered seal.json
// (seal), a drill holding an identity that is not a recipient (decrypt) and
// one whose RTO objective cannot be met (rto), run at once.
func TestDrillController(t *testing.T) {
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{dcBucket: false}, staging: []string{dcStaging}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client

	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	keys := newControllerKeys(t, sk, dir)

	createWorkload(t, c, dcWorkload, "PHI-MARKER-"+randomHex(t, 16))
	objs := (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: dcBucket, Prefix: dcPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
	}).Objects()
	objs = append(objs,
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace},
			Data:       map[string][]byte{"identity": readFile(t, keys.identity)},
		},
		&v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: dcSchedule, Namespace: ctlNamespace},
			Spec: v1alpha1.BackupScheduleSpec{
				Schedule:         "0 3 1 1 *", // never during the test: runs are asked for
				Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{dcWorkload}},
				OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
			},
		})
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	// The controller has only the RBAC a cluster install grants.
	ctl := startController(t, bin, asServiceAccount(t, b))
	kube := []string{"-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig}
	waitFor(t, "the schedule Ready", time.Minute, func(ctx context.Context) (bool, error) {
		s := &v1alpha1.BackupSchedule{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: dcSchedule}, s)
		return err == nil && meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady), err
	})
	good := dcSealedBackup(t, sk, kube, dcSchedule)

	drills := []string{"weekly", "twin"}
	for _, name := range drills {
		d := &v1alpha1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ctlNamespace},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule:          "0 3 1 1 *",
				BackupScheduleRef: corev1.LocalObjectReference{Name: dcSchedule},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"},
				Staging:           dcStaging,
				Checks:            v1alpha1.DrillChecks{MaxRTO: &v1alpha1.Duration{Duration: 10 * time.Minute}},
			},
		}
		if err := c.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "drill "+name+" Ready", time.Minute, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(d), d)
			return err == nil && meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady), err
		})
	}

	t.Run("two drills of a good backup pass at once", func(t *testing.T) {
		type outcome struct {
			stdout, stderr string
			err            error
		}
		outs := make([]outcome, len(drills))
		var wg sync.WaitGroup
		for i, name := range drills {
			wg.Go(func() {
				o := &outs[i]
				o.stdout, o.stderr, o.err = sk.run(t, append([]string{"drill", "run", name, "--timeout", dcTimeout.String()}, kube...)...)
			})
		}
		wg.Wait()
		scratch := map[string]string{}
		for i, name := range drills {
			o := outs[i]
			if o.err != nil {
				t.Fatalf("drill run %s: %v\nstdout:\n%s\nstderr:\n%s", name, o.err, o.stdout, o.stderr)
			}
			t.Logf("drill run %s:\n%s", name, o.stdout)
			for _, check := range []string{"seal", "decrypt", "restore", "presence", "content", "rto", "job"} {
				if !regexp.MustCompile(`PASS\s+` + check + `\b`).MatchString(o.stdout) {
					t.Errorf("drill run %s does not print check %s as passed", name, check)
				}
			}
			d := dcDrill(t, c, name)
			run := d.Status.LastRun
			if run == nil || run.Result != v1alpha1.DrillRunPassed || run.Backup != good || len(run.Checks) != len(drill.CheckNames) || run.RTO == nil {
				t.Fatalf("drill %s last run %+v, want Passed on %s with %d checks and an RTO", name, run, good, len(drill.CheckNames))
			}
			if run.AuditEntry == nil || !strings.HasPrefix(run.AuditEntry.Hash, "sha256:") {
				t.Errorf("drill %s: no audit entry in status: %+v", name, run.AuditEntry)
			}
			if run.Cleanup != v1alpha1.DrillCleanupDeleted {
				t.Errorf("drill %s: cleanup %s, want Deleted", name, run.Cleanup)
			}
			// Inert by default: the sample's Deployment came back scaled to 0.
			if w := run.Workloads; w == nil || w.Mode != v1alpha1.DrillWorkloadsInert || len(w.Modified) == 0 ||
				w.Modified[0].Kind != "Deployment.apps" || w.Modified[0].Count != 1 || len(w.Ran) != 0 {
				t.Errorf("drill %s: workloads %+v, want Inert with 1 Deployment.apps modified and nothing run", name, w)
			}
			for _, ns := range run.ScratchNamespaces {
				if other, ok := scratch[ns]; ok {
					t.Errorf("drills %s and %s restored into the same namespace %s", other, name, ns)
				}
				scratch[ns] = name
			}
			if c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionLastDrillPassed); c == nil || c.Status != metav1.ConditionTrue ||
				!strings.Contains(c.Message, "every check passed: 1 namespace restored and verified") {
				t.Errorf("drill %s LastDrillPassed %+v, want True saying 1 namespace was restored", name, c)
			}
		}
		if len(scratch) != 2 {
			t.Errorf("scratch namespaces %v, want one per drill", scratch)
		}
		dcNoLeftovers(t, c)
		ob := &v1alpha1.OffsiteBackup{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: good}, ob); err != nil {
			t.Fatal(err)
		}
		if ob.Status.LastDrill == nil || ob.Status.LastDrill.Result != v1alpha1.DrillPassed {
			t.Errorf("OffsiteBackup %s lastDrill %+v, want Passed", good, ob.Status.LastDrill)
		}
		m := ctl.metrics(t)
		for _, series := range []string{
			`safekeep_drill_last_passed{drill="weekly",namespace="` + ctlNamespace + `"} 1`,
			`safekeep_drill_runs_total{drill="twin",namespace="` + ctlNamespace + `",result="passed"} 1`,
			`safekeep_drill_last_success_timestamp_seconds{drill="weekly",namespace="` + ctlNamespace + `"}`,
			`safekeep_drill_rto_seconds{drill="weekly",namespace="` + ctlNamespace + `"}`,
			`safekeep_drill_max_rto_seconds{drill="weekly",namespace="` + ctlNamespace + `"} 600`,
			`safekeep_drill_max_pass_age_seconds{drill="weekly",namespace="` + ctlNamespace + `"}`,
		} {
			if !strings.Contains(m, series) {
				t.Errorf("metrics lack %s", series)
			}
		}
	})

	t.Run("a bit-flipped offsite object fails the seal check", func(t *testing.T) {
		bad := dcSealedBackup(t, sk, kube, dcSchedule)
		key := dcPrefix + "/safekeep/v1/backups/" + dcSchedule + "/" + bad + "/objects/" + bad + ".tar.gz.age"
		dcFlipBit(t, s3.Minio(t), dcBucket, key)
		stdout, stderr, err := sk.run(t, append([]string{"drill", "run", "weekly", "--timeout", dcTimeout.String()}, kube...)...)
		t.Logf("drill run weekly:\n%s%s", stdout, stderr)
		if err == nil {
			t.Fatalf("drill run of a tampered backup exited 0")
		}
		if !regexp.MustCompile(`FAIL\s+seal\b`).MatchString(stdout) || !strings.Contains(stdout, bad+".tar.gz") {
			t.Errorf("the output does not name the failed seal check and the object")
		}
		if !strings.Contains(stderr, "check seal failed") {
			t.Errorf("the error line does not name the check: %s", stderr)
		}
		d := dcDrill(t, c, "weekly")
		run := d.Status.LastRun
		if run == nil || run.Result != v1alpha1.DrillRunFailed || run.Backup != bad {
			t.Fatalf("last run %+v, want Failed on %s", run, bad)
		}
		var seal *v1alpha1.DrillCheckResult
		for i := range run.Checks {
			if run.Checks[i].Name == "seal" {
				seal = &run.Checks[i]
			}
		}
		if seal == nil || seal.Passed || len(seal.FailedObjects) == 0 {
			t.Errorf("seal check %+v, want failed naming the object", seal)
		}
		c := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionLastDrillPassed)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.ReasonDrillFailed || !strings.Contains(c.Message, "seal") {
			t.Errorf("LastDrillPassed %+v", c)
		}
		if m := ctl.metrics(t); !strings.Contains(m, `safekeep_drill_failures_total{check="seal",drill="weekly",namespace="`+ctlNamespace+`"} 1`) ||
			!strings.Contains(m, `safekeep_drill_last_passed{drill="weekly",namespace="`+ctlNamespace+`"} 0`) {
			t.Errorf("metrics do not count the failed seal check")
		}
	})

	t.Run("damage, a wrong identity and a missed RTO fail the check that names them", func(t *testing.T) {
		testDrillControllerDamage(t, &dcEnv{s3: s3, c: c, sk: sk, kube: kube, ctl: ctl, dir: dir}, good)
	})

	if strings.Contains(ctl.log.String(), "AGE-SECRET-KEY") || strings.Contains(ctl.log.String(), s3.SecretKey) {
		t.Errorf("the controller logged an identity or the S3 secret key")
	}
}

// dcSealedBackup runs `safekeep backup now schedule` and returns the sealed
// backup.
func dcSealedBackup(t *testing.T, sk *cli, kube []string, schedule string) string {
	t.Helper()
	out := sk.ok(t, append([]string{"backup", "now", schedule, "--timeout", runTimeout.String()}, kube...)...)
	m := regexp.MustCompile(`sealed velero/(\S+):`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup now printed no sealed backup:\n%s", out)
	}
	return m[1]
}

func dcDrill(t *testing.T, c client.Client, name string) *v1alpha1.RestoreDrill {
	t.Helper()
	d := &v1alpha1.RestoreDrill{}
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: ctlNamespace, Name: name}, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// noLeftovers checks that no drill scratch namespace remains (envtest runs
// no namespace controller: a deleted namespace stays Terminating, so
// "gone" means deleted), and no staged Velero Backup or Restore.
func dcNoLeftovers(t *testing.T, c client.Client) {
	t.Helper()
	var nss corev1.NamespaceList
	if err := c.List(t.Context(), &nss, client.HasLabels{v1alpha1.LabelDrill}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp.IsZero() {
			t.Errorf("scratch namespace %s was not deleted", ns.Name)
		}
	}
	for _, list := range []client.ObjectList{&veleroBackups{}, &veleroRestores{}} {
		if err := c.List(t.Context(), list, client.InNamespace(testbed.VeleroNamespace), client.HasLabels{v1alpha1.LabelDrill}); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n > 0 {
			t.Errorf("%d staged Velero %T left", n, list)
		}
	}
}

// flipBit flips one bit in the middle of an object.
func dcFlipBit(t *testing.T, mc *minio.Client, bucket, key string) {
	t.Helper()
	ctx := t.Context()
	obj, err := mc.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(obj)
	_ = obj.Close() // read-only, fully read
	if err != nil || len(body) == 0 {
		t.Fatalf("read %s: %v (%d bytes)", key, err, len(body))
	}
	body[len(body)/2] ^= 0x10
	if _, err := mc.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("rewrite %s: %v", key, err)
	}
}

// veleroBackups and veleroRestores name Velero's lists for noLeftovers.
type (
	veleroBackups  = velerov1.BackupList
	veleroRestores = velerov1.RestoreList
)
