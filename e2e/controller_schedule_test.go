package e2e

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	ctlNamespace = "safekeep-system" // the controller's: targets, Secrets, schedules
	ctlWorkload  = "phi-scheduled"   // what the schedule backs up
	ctlBucket    = "offsite-scheduled"
	ctlPrefix    = "cluster-b"
	ctlSchedule  = "every-minute"
	// runTimeout bounds the wait for one run (backup, seal) and for the
	// cron to fire (at most a minute).
	runTimeout = 3 * time.Minute
)

// TestControllerSchedule runs the whole product on the real stack: envtest,
// VersityGW, the real Velero server with the AWS plugin, and
// safekeep-controller as a process. A per-minute BackupSchedule backs up a
// namespace: a first run asked for with `safekeep backup now`, a second one
// fired by the cron; each is sealed offsite, the real age CLI opens the
// kept one to Velero's exact bytes, no offsite object shows the Secret's
// plaintext, and retention (keepLast 1) removes the older one.
func TestControllerSchedule(t *testing.T) {
	ctx := t.Context()
	b := startBed(t, bedSpec{buckets: map[string]bool{ctlBucket: false}, crds: true})
	s3, cp, c := b.s3, b.cp, b.cp.Client

	dir := t.TempDir()
	bin := buildController(t, dir)
	sk := newCLI(t, s3)
	keys := newControllerKeys(t, sk, dir)

	marker := "PHI-MARKER-" + randomHex(t, 16)
	createWorkload(t, c, ctlWorkload, marker)
	for _, o := range (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite", Endpoint: s3.Endpoint, Bucket: ctlBucket, Prefix: ctlPrefix,
		AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
	}).Objects() {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}

	// The controller has only the RBAC a cluster install grants.
	ctl := startController(t, bin, asServiceAccount(t, b))
	waitFor(t, "OffsiteTarget offsite Ready", time.Minute, func(ctx context.Context) (bool, error) {
		tgt := &v1alpha1.OffsiteTarget{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: "offsite"}, tgt); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(tgt.Status.Conditions, v1alpha1.ConditionReady), nil
	})

	sched := &v1alpha1.BackupSchedule{
		ObjectMeta: metav1.ObjectMeta{Name: ctlSchedule, Namespace: ctlNamespace},
		Spec: v1alpha1.BackupScheduleSpec{
			Schedule:                "* * * * *",
			StartingDeadlineSeconds: ptr.To[int64](50),
			Template:                v1alpha1.BackupTemplate{IncludedNamespaces: []string{ctlWorkload}},
			OffsiteTargetRef:        corev1.LocalObjectReference{Name: "offsite"},
			Retention:               &v1alpha1.RetentionPolicy{KeepLast: 1},
		},
	}
	if err := c.Create(ctx, sched); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { suspend(t, c, sched) })
	waitFor(t, "the schedule Ready", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched)
		return err == nil && meta.IsStatusConditionTrue(sched.Status.Conditions, v1alpha1.ConditionReady), err
	})

	// First run: asked for now, waited for by the CLI to its seal.
	out := sk.ok(t, "backup", "now", ctlSchedule, "-n", ctlNamespace, "--kubeconfig", cp.Kubeconfig, "--timeout", runTimeout.String())
	first := regexp.MustCompile(`sealed velero/(\S+):`).FindStringSubmatch(out)
	if first == nil {
		t.Fatalf("backup now printed no sealed backup:\n%s", out)
	}
	firstBackup := first[1]
	t.Logf("first run sealed: %s", firstBackup)

	// Second run: fired by the cron within the minute.
	var second string
	waitFor(t, "a cron-fired run sealed", runTimeout, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched); err != nil {
			return false, err
		}
		last := sched.Status.LastSealedBackup
		if last == "" || last == firstBackup {
			return false, nil
		}
		b := &velerov1.Backup{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: last}, b); err != nil {
			return false, err
		}
		second = last
		return b.Annotations[v1alpha1.AnnotationTrigger] == v1alpha1.TriggerSchedule, nil
	})
	t.Logf("cron run sealed: %s", second)
	suspend(t, c, sched) // no new runs while the checks run
	waitFor(t, "the run in flight, if any, to end", runTimeout, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched)
		return err == nil && sched.Status.Active == "", err
	})
	kept := sched.Status.LastSealedBackup

	mc := s3.Minio(t)
	offsiteRoot := ctlPrefix + "/safekeep/v1/backups/" + ctlSchedule + "/"
	waitFor(t, "retention to keep only the newest backup", runTimeout, func(ctx context.Context) (bool, error) {
		folders := map[string]bool{}
		for key := range listETags(t, mc, ctlBucket, offsiteRoot) {
			folders[strings.SplitN(strings.TrimPrefix(key, offsiteRoot), "/", 2)[0]] = true
		}
		return len(folders) == 1 && folders[kept], nil
	})
	second = kept

	t.Run("the kept seal opens with age to Velero's bytes", func(t *testing.T) {
		primary := map[string][]byte{}
		for key, body := range readObjects(t, mc, veleroBucket, "backups/"+second+"/") {
			primary[strings.TrimPrefix(key, "backups/"+second+"/")] = body
		}
		if !containsMarker(primary[second+".tar.gz"], marker, 3) {
			t.Fatalf("the marker is not in Velero's own %s.tar.gz: the scan below would prove nothing", second)
		}
		offsite := readObjects(t, mc, ctlBucket, offsiteRoot+second+"/")
		for name, want := range primary {
			key := offsiteRoot + second + "/objects/" + name + ".age"
			sealed, ok := offsite[key]
			if !ok {
				t.Errorf("no sealed copy of %s", name)
				continue
			}
			got, err := ageDecrypt(t, keys.identity, sealed)
			if err != nil {
				t.Errorf("age -d %s: %v", key, err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("age -d %s: %d bytes differing from Velero's %d", key, len(got), len(want))
			}
		}
		if _, ok := offsite[offsiteRoot+second+"/seal.json"]; !ok {
			t.Errorf("no seal.json for %s", second)
		}
	})

	t.Run("no offsite object shows the Secret's plaintext", func(t *testing.T) {
		all := readObjects(t, mc, ctlBucket, "")
		if len(all) == 0 {
			t.Fatal("the offsite bucket is empty")
		}
		for key, body := range all {
			if containsMarker(body, marker, 3) {
				t.Errorf("offsite object %s shows the marker", key)
			}
		}
	})

	t.Run("records and status", func(t *testing.T) {
		ob := &v1alpha1.OffsiteBackup{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: second}, ob); err != nil {
			t.Fatalf("OffsiteBackup of the kept backup: %v", err)
		}
		if !meta.IsStatusConditionTrue(ob.Status.Conditions, v1alpha1.ConditionSealed) || ob.Status.Objects == 0 || ob.Status.SealDigest == "" {
			t.Errorf("OffsiteBackup status %+v", ob.Status)
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: firstBackup}, &v1alpha1.OffsiteBackup{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the removed backup's OffsiteBackup: %v, want it deleted", err)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(sched), sched); err != nil {
			t.Fatal(err)
		}
		for _, ct := range []string{v1alpha1.ConditionLastRunSucceeded, v1alpha1.ConditionRetentionApplied} {
			if !meta.IsStatusConditionTrue(sched.Status.Conditions, ct) {
				t.Errorf("schedule %s = %+v", ct, meta.FindStatusCondition(sched.Status.Conditions, ct))
			}
		}
		m := ctl.metrics(t)
		for _, name := range []string{
			`safekeep_backupschedule_last_seal_timestamp_seconds{namespace="` + ctlNamespace + `",schedule="` + ctlSchedule + `"}`,
			`safekeep_backupschedule_runs_total{namespace="` + ctlNamespace + `",result="sealed",schedule="` + ctlSchedule + `"}`,
			`safekeep_seal_duration_seconds_count{namespace="` + ctlNamespace + `",schedule="` + ctlSchedule + `"}`,
			`safekeep_seal_bytes_total{namespace="` + ctlNamespace + `",schedule="` + ctlSchedule + `"}`,
		} {
			if !strings.Contains(m, name) {
				t.Errorf("metrics lack %s", name)
			}
		}
		if strings.Contains(ctl.log.String(), s3.SecretKey) {
			t.Errorf("the controller logged the S3 secret key")
		}
	})
}

// waitFor polls cond every 500 ms until it holds, or fails the test after
// timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func(context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	if err := wait.PollUntilContextTimeout(t.Context(), 500*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

// suspend stops a schedule's runs.
func suspend(t *testing.T, c client.Client, s *v1alpha1.BackupSchedule) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"suspend":true}}`))
	if err := c.Patch(context.WithoutCancel(t.Context()), s.DeepCopy(), patch); client.IgnoreNotFound(err) != nil {
		t.Errorf("suspend %s: %v", s.Name, err)
	}
}
