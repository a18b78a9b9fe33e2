package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
)

// dcEnv is what TestDrillController's subtests share.
type dcEnv struct {
	s3   *testbed.S3Server
	c    client.Client
	sk   *cli
	kube []string
	ctl  *controllerProcess
	dir  string
}

// dcRoot is where the offsite target's objects live in dcBucket.
const dcRoot = dcPrefix + "/safekeep/v1/"

// dcDamage is one failing drill: its own RestoreDrill, and for damage its
// own BackupSchedule, so that no case sees another's backup.
type dcDamage struct {
	drill string
	// damage, when set, is done to a fresh backup of a schedule named after
	// the drill; otherwise the drill uses the oldest backup of dcSchedule,
	// the good one.
	damage   func(t *testing.T, mc *minio.Client, schedule, backup string)
	identity string        // identity Secret; "" is drill-identity
	maxRTO   time.Duration // checks.maxRTO; 0 is 10m
	failed   string        // the first failed check
	names    string        // an object it names; "" none
	says     string        // in its message
	// notReady, when set, is the reason the drill is refused up front
	// (Ready False): it never runs, so the other fields are unused.
	notReady string
}

// testDrillControllerDamage runs four failing drills at once through the
// controller and `safekeep drill run`, each on a backup no other case
// touches, and checks that each names its failed check in the CLI's output
// and exit status, the drill's status, a Warning Event and the audit entry.
func testDrillControllerDamage(t *testing.T, e *dcEnv, good string) {
	ctx, c := t.Context(), e.c
	stranger := e.dir + "/stranger.txt" // a valid identity, not a recipient
	e.sk.ok(t, "keygen", "-o", stranger)
	cases := []dcDamage{
		{drill: "gone", damage: dcDelete, failed: drill.CheckSeal, names: seal.VeleroBackupJSON, says: "missing"},
		{drill: "badseal", damage: dcAlterSeal, failed: drill.CheckSeal, names: "seal.json", says: "signature"},
		// An identity that is not among the target's recipients is refused
		// before any run (issue 16), not left to fail the decrypt check.
		{drill: "stranger", identity: "stranger-identity", notReady: v1alpha1.ReasonIdentityNotRecipient},
		{drill: "hurried", maxRTO: time.Millisecond, failed: drill.CheckRTO, says: "exceeds the objective"},
	}
	objs := []client.Object{&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "stranger-identity", Namespace: ctlNamespace},
		Data:       map[string][]byte{"identity": readFile(t, stranger)},
	}}
	for _, tc := range cases {
		d := &v1alpha1.RestoreDrill{
			ObjectMeta: metav1.ObjectMeta{Name: tc.drill, Namespace: ctlNamespace},
			Spec: v1alpha1.RestoreDrillSpec{
				Schedule:          "0 3 1 1 *",
				BackupScheduleRef: corev1.LocalObjectReference{Name: dcSchedule},
				Backup:            v1alpha1.DrillBackupOldest,
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: cmp.Or(tc.identity, "drill-identity")},
				Staging:           dcStaging,
				Checks:            v1alpha1.DrillChecks{MaxRTO: &v1alpha1.Duration{Duration: cmp.Or(tc.maxRTO, 10*time.Minute)}},
			},
		}
		if tc.damage != nil {
			d.Spec.BackupScheduleRef.Name, d.Spec.Backup = tc.drill, v1alpha1.DrillBackupLatest
			objs = append(objs, &v1alpha1.BackupSchedule{
				ObjectMeta: metav1.ObjectMeta{Name: tc.drill, Namespace: ctlNamespace},
				Spec: v1alpha1.BackupScheduleSpec{
					Schedule:         "0 3 1 1 *",
					Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{dcWorkload}},
					OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"},
				},
			})
		}
		objs = append(objs, d)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	refused := map[string]string{}
	for _, tc := range cases {
		if tc.notReady != "" {
			refused[tc.drill] = tc.notReady
		}
	}
	cases = slices.DeleteFunc(cases, func(tc dcDamage) bool { return tc.notReady != "" })
	for _, o := range objs {
		if _, ok := o.(*corev1.Secret); ok {
			continue
		}
		if reason, ok := refused[o.GetName()]; ok {
			if _, drill := o.(*v1alpha1.RestoreDrill); drill {
				waitFor(t, fmt.Sprintf("RestoreDrill %s not Ready (%s)", o.GetName(), reason), time.Minute, func(ctx context.Context) (bool, error) {
					d := &v1alpha1.RestoreDrill{}
					err := c.Get(ctx, client.ObjectKeyFromObject(o), d)
					cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
					return err == nil && cond != nil && cond.Status == metav1.ConditionFalse && cond.Reason == reason, err
				})
				continue
			}
		}
		waitFor(t, fmt.Sprintf("%T %s Ready", o, o.GetName()), time.Minute, func(ctx context.Context) (bool, error) {
			obj := o.DeepCopyObject().(client.Object)
			err := c.Get(ctx, client.ObjectKeyFromObject(o), obj)
			var conds []metav1.Condition
			switch x := obj.(type) {
			case *v1alpha1.RestoreDrill:
				conds = x.Status.Conditions
			case *v1alpha1.BackupSchedule:
				conds = x.Status.Conditions
			}
			return err == nil && meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReady), err
		})
	}

	// Parallel subtests end before this group does, and the checks after it.
	t.Run("at once", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.drill, func(t *testing.T) {
				t.Parallel()
				backup := good
				if tc.damage != nil {
					backup = dcSealedBackup(t, e.sk, e.kube, tc.drill)
					tc.damage(t, e.s3.Minio(t), tc.drill, backup)
				}
				stdout, stderr, err := e.sk.run(t, append([]string{"drill", "run", tc.drill, "--timeout", dcTimeout.String()}, e.kube...)...)
				t.Logf("drill run %s:\n%s%s", tc.drill, stdout, stderr)
				if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("drill run %s: %v, want exit status 1", tc.drill, err)
				}
				if !regexp.MustCompile(`FAIL\s+`+tc.failed+`\b`).MatchString(stdout) || !strings.Contains(stdout, tc.names) {
					t.Errorf("the output does not name the failed %s check and %q", tc.failed, tc.names)
				}
				if !strings.Contains(stderr, "check "+tc.failed+" failed") {
					t.Errorf("the error line does not name the %s check: %s", tc.failed, stderr)
				}
				dcCheckFailedRun(t, e, tc, backup)
			})
		}
	})
	dcNoLeftovers(t, c)
	m := e.ctl.metrics(t)
	for _, tc := range cases {
		series := `safekeep_drill_failures_total{check="` + tc.failed + `",drill="` + tc.drill + `",namespace="` + ctlNamespace + `"} 1`
		if !strings.Contains(m, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}

// dcCheckFailedRun checks what the controller recorded of tc's failed run
// on backup: the drill's status, a Warning Event, the audit entry and, for
// a backup of its own, the OffsiteBackup's last drill.
func dcCheckFailedRun(t *testing.T, e *dcEnv, tc dcDamage, backup string) {
	t.Helper()
	d := dcDrill(t, e.c, tc.drill)
	run := d.Status.LastRun
	if run == nil || run.Result != v1alpha1.DrillRunFailed || run.Backup != backup || len(run.Checks) != len(drill.CheckNames) {
		t.Fatalf("last run %+v, want Failed on %s with %d checks", run, backup, len(drill.CheckNames))
	}
	i := slices.IndexFunc(run.Checks, func(c v1alpha1.DrillCheckResult) bool { return !c.Passed })
	if i < 0 || run.Checks[i].Name != tc.failed {
		t.Fatalf("checks %+v, want %s the first to fail", run.Checks, tc.failed)
	}
	failed := run.Checks[i]
	if !strings.Contains(failed.Message, tc.says) || (tc.names != "" && !slices.ContainsFunc(failed.FailedObjects, func(o string) bool { return strings.Contains(o, tc.names) })) {
		t.Errorf("check %s %q names %v, want %q and an object containing %q", failed.Name, failed.Message, failed.FailedObjects, tc.says, tc.names)
	}
	// Only a backup that verified and decrypted is restored (and so leaves
	// something for the no-leftovers check to find).
	if restored := tc.failed == drill.CheckRTO; restored != (len(run.ScratchNamespaces) > 0) {
		t.Errorf("scratch namespaces %v; want some only if the backup was restored (%v)", run.ScratchNamespaces, restored)
	}
	if run.Cleanup != v1alpha1.DrillCleanupDeleted {
		t.Errorf("cleanup %s, want Deleted", run.Cleanup)
	}
	cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionLastDrillPassed)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != v1alpha1.ReasonDrillFailed || !strings.Contains(cond.Message, tc.failed) {
		t.Errorf("LastDrillPassed %+v", cond)
	}
	// The Event is emitted after the status patch: wait a little for it.
	waitFor(t, "a DrillFailed Event of "+tc.drill, 30*time.Second, func(ctx context.Context) (bool, error) {
		var events corev1.EventList
		if err := e.c.List(ctx, &events, client.InNamespace(ctlNamespace)); err != nil {
			return false, err
		}
		return slices.ContainsFunc(events.Items, func(ev corev1.Event) bool {
			return ev.InvolvedObject.Name == tc.drill && ev.InvolvedObject.Kind == "RestoreDrill" &&
				ev.Type == corev1.EventTypeWarning && ev.Reason == v1alpha1.ReasonDrillFailed &&
				strings.Contains(ev.Message, "run "+run.ID+":") && strings.Contains(ev.Message, tc.failed)
		}), nil
	})
	dcCheckAudit(t, e, tc, run)
	if tc.damage != nil {
		ob := &v1alpha1.OffsiteBackup{}
		if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: ctlNamespace, Name: backup}, ob); err != nil {
			t.Fatal(err)
		}
		if s := ob.Status.LastDrill; s == nil || s.Result != v1alpha1.DrillFailed || s.FailedCheck != tc.failed {
			t.Errorf("OffsiteBackup %s lastDrill %+v, want Failed at %s", backup, s, tc.failed)
		}
	}
}

// dcCheckAudit reads the run's audit entry from the bucket: a drill entry
// of this run that records the failed check.
func dcCheckAudit(t *testing.T, e *dcEnv, tc dcDamage, run *v1alpha1.DrillRun) {
	t.Helper()
	if run.AuditEntry == nil {
		t.Errorf("no audit entry in status")
		return
	}
	key, entry, details := drillAuditEntry(t, e.s3, dcBucket, dcRoot, run)
	if entry.Kind != audit.KindDrill || details.Drill != tc.drill || details.Run != run.ID || details.Passed ||
		!slices.ContainsFunc(details.Checks, func(c audit.CheckResult) bool { return c.Name == tc.failed && !c.Passed }) {
		t.Errorf("audit entry %s: kind %s, details %+v; want a failed drill %s run %s with check %s failed", key, entry.Kind, details, tc.drill, run.ID, tc.failed)
	}
	// Object names stay in the cluster (status); the plaintext log holds
	// their count and digests only.
	if bytes.Contains(entry.Details, []byte(`"objects":`)) || (tc.names != "" && bytes.Contains(entry.Details, []byte(tc.names))) {
		t.Errorf("audit entry %s names objects: %s", key, entry.Details)
	}
	for _, c := range run.Checks {
		i := slices.IndexFunc(details.Checks, func(a audit.CheckResult) bool { return a.Name == c.Name })
		if i < 0 {
			continue
		}
		var want []string
		for _, name := range c.FailedObjects {
			want = append(want, audit.NameDigest(name))
		}
		if a := details.Checks[i]; a.FailedObjects != len(c.FailedObjects) || !slices.Equal(a.FailedDigests, want) {
			t.Errorf("audit entry %s check %s: %d objects %v, want %d and the digests of the names in status", key, c.Name, a.FailedObjects, a.FailedDigests, len(c.FailedObjects))
		}
	}
}

// dcDelete deletes the sealed velero-backup.json of backup.
func dcDelete(t *testing.T, mc *minio.Client, schedule, backup string) {
	t.Helper()
	key := dcRoot + seal.ObjectKey(schedule, backup, seal.VeleroBackupJSON)
	if _, err := mc.StatObject(t.Context(), dcBucket, key, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the object to delete: %v", err)
	}
	if err := mc.RemoveObject(t.Context(), dcBucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// dcAlterSeal changes the date in backup's seal.json, keeping the
// signature.
func dcAlterSeal(t *testing.T, mc *minio.Client, schedule, backup string) {
	t.Helper()
	key := dcRoot + seal.SealKey(schedule, backup)
	body := readObjects(t, mc, dcBucket, key)[key]
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("seal %s: %v", key, err)
	}
	inner, ok := doc["seal"].(map[string]any)
	if !ok || inner["sealedAt"] == nil {
		t.Fatalf("seal %s has no seal.sealedAt", key)
	}
	inner["sealedAt"] = "1999-01-01T00:00:00Z"
	altered, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mc.PutObject(t.Context(), dcBucket, key, strings.NewReader(string(altered)), int64(len(altered)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("rewrite %s: %v", key, err)
	}
}

// drillAuditEntry reads the audit entry the run's status names from
// bucket, under root (the target's "<prefix>/safekeep/v1/"): its key, the
// entry and its drill details.
func drillAuditEntry(t *testing.T, s3 *testbed.S3Server, bucket, root string, run *v1alpha1.DrillRun) (string, *audit.Entry, *audit.DrillDetails) {
	t.Helper()
	if run.AuditEntry == nil {
		t.Fatalf("run %s names no audit entry", run.ID)
	}
	key := root + audit.EntryKey(uint64(run.AuditEntry.Seq), run.AuditEntry.Hash) //nolint:gosec // small sequence numbers
	obj, err := s3.Minio(t).GetObject(t.Context(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(obj)
	_ = obj.Close() // read-only, fully read
	if err != nil {
		t.Fatalf("read audit entry %s: %v", key, err)
	}
	var entry audit.Entry
	var details audit.DrillDetails
	if err := json.Unmarshal(body, &entry); err != nil {
		t.Fatalf("audit entry %s: %v", key, err)
	}
	if err := json.Unmarshal(entry.Details, &details); err != nil {
		t.Fatalf("audit entry %s details: %v", key, err)
	}
	return key, &entry, &details
}
