package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/drill/volumereader"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
)

// The controller's Level 2 scenario: its offsite bucket, staging location
// (and bucket), schedule, drill and the image its reader Job runs.
const (
	l2cBucket   = "offsite-l2ctl"
	l2cStaging  = "staging-l2ctl"
	l2cSchedule = "records"
	l2cDrill    = "records-volumes"
	l2cImage    = "safekeep-controller:e2e"
)

// testLevel2Controller: safekeep-controller (a process, with the RBAC a
// cluster install grants) seals a backup whose volume Velero's node-agent
// backed up, and a RestoreDrill with spec.checks.volumeFiles Compare runs
// Level 2 on it: Velero restores the volume into the scratch namespace,
// the controller's reader Job (run for real by the Node's kubelet, its
// log read through pods/log) digests the restored files, and the drill
// passes with every file matched, per volume in status; cleanup leaves no
// scratch namespace, staged PodVolumeBackup, BackupRepository, staged blob
// or reader Job. With Velero's repository password changed, the next run
// fails RepositoryPasswordMismatch naming the volume, before Velero runs.
func testLevel2Controller(t *testing.T, b *bed, files map[string]volumeFile) {
	ctx := t.Context()
	c := b.cp.Client
	dir := t.TempDir()
	bin := b.controllerBinary(t)
	b.node.RunImage(l2cImage, bin)
	sk := newCLI(t, b.s3)
	keys := newControllerKeys(t, sk, dir)
	objs := (sample.Offsite{
		Namespace: ctlNamespace, Name: "offsite-volumes", Endpoint: b.s3.Endpoint, Bucket: l2cBucket, Prefix: fsPrefix,
		AccessKey: b.s3.AccessKey, SecretKey: b.s3.SecretKey, Recipients: []string{keys.recipient}, SigningKeyPEM: keys.signingPEM,
	}).Objects()
	d := &v1alpha1.RestoreDrill{
		ObjectMeta: metav1.ObjectMeta{Name: l2cDrill, Namespace: ctlNamespace},
		Spec: v1alpha1.RestoreDrillSpec{
			Schedule: "0 3 1 1 *", BackupScheduleRef: corev1.LocalObjectReference{Name: l2cSchedule},
			IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"}, Staging: l2cStaging,
			Checks:    v1alpha1.DrillChecks{VolumeFiles: v1alpha1.DrillVolumeFilesCompare},
			Workloads: v1alpha1.DrillWorkloads{Mode: v1alpha1.DrillWorkloadsIsolated, Run: []v1alpha1.DrillRunnableKind{"Pod"}, PodSecurity: "baseline"},
			Timeout:   &v1alpha1.Duration{Duration: 5 * time.Minute},
		},
	}
	objs = append(objs,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "drill-identity", Namespace: ctlNamespace}, Data: map[string][]byte{"identity": readFile(t, keys.identity)}},
		&v1alpha1.BackupSchedule{
			ObjectMeta: metav1.ObjectMeta{Name: l2cSchedule, Namespace: ctlNamespace},
			Spec: v1alpha1.BackupScheduleSpec{
				Schedule:         "0 3 1 1 *", // never during the test: runs are asked for
				Template:         v1alpha1.BackupTemplate{IncludedNamespaces: []string{fsNamespace}, DefaultVolumesToFsBackup: ptr.To(true)},
				OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite-volumes"},
			},
		})
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	kubeconfig := asServiceAccount(t, b)
	// The Node schedules the run's restored pods and reader Job.
	b.node.ScheduleIn(map[string]string{v1alpha1.LabelDrill: v1alpha1.DrillLabelValue(ctlNamespace, l2cDrill)})
	ctl := startController(t, bin, kubeconfig, "--volume-reader-image", l2cImage)
	kube := []string{"-n", ctlNamespace, "--kubeconfig", b.cp.Kubeconfig}
	waitFor(t, "the schedule Ready", time.Minute, func(ctx context.Context) (bool, error) {
		s := &v1alpha1.BackupSchedule{}
		err := c.Get(ctx, client.ObjectKey{Namespace: ctlNamespace, Name: l2cSchedule}, s)
		return err == nil && meta.IsStatusConditionTrue(s.Status.Conditions, v1alpha1.ConditionReady), err
	})
	if err := c.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the drill Ready", time.Minute, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(d), d)
		return err == nil && meta.IsStatusConditionTrue(d.Status.Conditions, v1alpha1.ConditionReady), err
	})

	start := time.Now()
	sealed := dcSealedBackup(t, sk, kube, l2cSchedule)
	t.Logf("the controller sealed %s with its volume data in %s", sealed, time.Since(start).Round(time.Millisecond))
	var bytes int64
	for _, f := range files {
		bytes += int64(len(f.body))
	}

	t.Run("the drill passes with every restored file matched", func(t *testing.T) {
		start := time.Now()
		stdout, stderr, err := sk.run(t, append([]string{"drill", "run", l2cDrill, "--timeout", "5m"}, kube...)...)
		t.Logf("drill run in %s:\n%s%s", time.Since(start).Round(time.Millisecond), stdout, stderr)
		if err != nil {
			t.Fatalf("drill run: %v", err)
		}
		run := dcDrill(t, c, l2cDrill).Status.LastRun
		if run == nil || run.Result != v1alpha1.DrillRunPassed || run.Backup != sealed {
			t.Fatalf("last run %+v, want Passed on %s", run, sealed)
		}
		want := fmt.Sprintf("%d files, %d bytes in 1 volume restored by Velero match the snapshots", len(files), bytes)
		if !regexp.MustCompile(`PASS\s+volume-files\b`).MatchString(stdout) || !strings.Contains(stdout, want) {
			t.Errorf("drill run does not print the volume-files check as passed with %q", want)
		}
		if len(run.Volumes) != 1 {
			t.Fatalf("status volumes %+v, want 1", run.Volumes)
		}
		v := run.Volumes[0]
		r := v.Restored
		if v.Namespace != fsNamespace || v.Pod != fsPod || v.Volume != fsVolume || !v.Passed || v.Files != int64(len(files)) || r == nil ||
			!r.Passed || r.Files != int64(len(files)) || r.Bytes != bytes || r.MatchedFiles != r.Files || r.MatchedBytes != bytes {
			t.Errorf("status volume %+v restored %+v, want %d files, %d bytes read, restored and matched", v, r, len(files), bytes)
		}
		// The audit entry in the bucket: the counts, a digest of the
		// volume's name, no name.
		key, _, det := drillAuditEntry(t, b.s3, l2cBucket, fsPrefix+"/safekeep/v1/", run)
		wantRestored := audit.VolumeRestored{Files: int64(len(files)), Bytes: bytes, MatchedFiles: int64(len(files)), MatchedBytes: bytes, Passed: true}
		if len(det.Volumes) != 1 || det.Volumes[0].Restored == nil || *det.Volumes[0].Restored != wantRestored ||
			det.Volumes[0].Volume != audit.NameDigest(fsNamespace+"/"+fsPod+"/"+fsVolume) {
			t.Errorf("audit entry %s volumes %+v, want one restored %+v", key, det.Volumes, wantRestored)
		}
		if raw, _ := json.Marshal(det); strings.Contains(string(raw), fsNamespace) || strings.Contains(string(raw), "patients") {
			t.Errorf("audit entry %s names the volume or a file: %s", key, raw)
		}
		if runs := b.node.Runs(); !hasRun(runs, volumereader.Command) {
			t.Errorf("the Node ran no reader: %+v", runs)
		}
		dcNoLeftovers(t, c)
		l2cNoLeftovers(t, b, run)
	})

	t.Run("a reader log the kubelet rotated: the summary in the termination message passes", func(t *testing.T) {
		b.node.SetContainerLogMaxSize(64) // every file's line is lost
		t.Cleanup(func() { b.node.SetContainerLogMaxSize(0) })
		stdout, stderr, err := sk.run(t, append([]string{"drill", "run", l2cDrill, "--timeout", "5m"}, kube...)...)
		t.Logf("drill run:\n%s%s", stdout, stderr)
		if err != nil {
			t.Fatalf("drill run: %v", err)
		}
		run := dcDrill(t, c, l2cDrill).Status.LastRun
		if run == nil || run.Result != v1alpha1.DrillRunPassed || len(run.Volumes) != 1 || run.Volumes[0].Restored == nil ||
			run.Volumes[0].Restored.MatchedFiles != int64(len(files)) || run.Volumes[0].Restored.MatchedBytes != bytes {
			t.Fatalf("last run %+v, want Passed with %d files, %d bytes matched", run, len(files), bytes)
		}
		l2cNoLeftovers(t, b, run)
	})

	t.Run("one restored file changed, log rotated: fails with counts, no name in the audit log", func(t *testing.T) {
		b.node.SetContainerLogMaxSize(64)
		// The reader's image changes one restored file (the test bed does
		// not enforce read-only mounts), then runs the reader.
		wrapper := dir + "/change-one-file"
		script := "#!/bin/sh\nfor last; do :; done\nf=$(find \"$last\" -type f ! -path '*/.velero/*' | sort | head -n 1)\nprintf x >>\"$f\"\nexec " + bin + " \"$@\"\n"
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil { //nolint:gosec // an executable script of the test
			t.Fatal(err)
		}
		b.node.RunImage(l2cImage, wrapper)
		t.Cleanup(func() { b.node.RunImage(l2cImage, bin); b.node.SetContainerLogMaxSize(0) })
		stdout, stderr, err := sk.run(t, append([]string{"drill", "run", l2cDrill, "--timeout", "5m"}, kube...)...)
		t.Logf("drill run:\n%s%s", stdout, stderr)
		if err == nil {
			t.Fatal("drill run with a changed file exited 0")
		}
		run := dcDrill(t, c, l2cDrill).Status.LastRun
		if run == nil || run.Result != v1alpha1.DrillRunFailed || len(run.Volumes) != 1 || run.Volumes[0].Restored == nil ||
			run.Volumes[0].Restored.Reason != drill.VolumeDiffers {
			t.Fatalf("last run %+v, want Failed with the volume %s", run, drill.VolumeDiffers)
		}
		want := fmt.Sprintf("%d files, %d bytes restored, %d files, %d bytes in the snapshots", len(files), bytes+1, len(files), bytes)
		var msg string
		for _, ch := range run.Checks {
			if ch.Name == drill.CheckVolumeFiles {
				msg = ch.Message
			}
		}
		if !strings.Contains(msg, "1 of 1 volumes differ") || !strings.Contains(msg, want) {
			t.Errorf("volume-files check %q, want the volume differing with %q", msg, want)
		}
		if run.AuditEntry == nil {
			t.Fatal("no audit entry in status")
		}
		key := fsPrefix + "/safekeep/v1/" + audit.EntryKey(uint64(run.AuditEntry.Seq), run.AuditEntry.Hash)
		obj, err := b.s3.Minio(t).GetObject(ctx, l2cBucket, key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(obj)
		_ = obj.Close() // read-only, fully read
		if err != nil || !strings.Contains(string(body), "compared by summary only") {
			t.Fatalf("audit entry %s: %v, %s; want the volume-files failure", key, err, body)
		}
		for name := range files {
			if strings.Contains(string(body), name) {
				t.Errorf("the audit entry names a file: %s", body)
			}
		}
		dcNoLeftovers(t, c)
		l2cNoLeftovers(t, b, run)
	})

	t.Run("a wrong repository password fails before Velero runs, naming the volume", func(t *testing.T) {
		sec := &corev1.Secret{}
		key := client.ObjectKey{Namespace: b.velero.Namespace, Name: volume.PasswordSecret}
		if err := c.Get(ctx, key, sec); err != nil {
			t.Fatal(err)
		}
		good := sec.Data[volume.PasswordKey]
		sec.Data[volume.PasswordKey] = []byte("not-the-sealed-password")
		if err := c.Update(ctx, sec); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			sec.Data[volume.PasswordKey] = good
			if err := c.Update(context.WithoutCancel(ctx), sec); err != nil {
				t.Errorf("restore Velero's repository password: %v", err)
			}
		})
		stdout, stderr, err := sk.run(t, append([]string{"drill", "run", l2cDrill, "--timeout", "5m"}, kube...)...)
		t.Logf("drill run:\n%s%s", stdout, stderr)
		if err == nil {
			t.Fatal("drill run with a wrong repository password exited 0")
		}
		d := dcDrill(t, c, l2cDrill)
		run := d.Status.LastRun
		if run == nil || run.Result != v1alpha1.DrillRunFailed || len(run.Volumes) != 1 || run.Volumes[0].Restored == nil ||
			run.Volumes[0].Restored.Reason != drill.VolumePasswordMismatch {
			t.Fatalf("last run %+v, want Failed with the volume's reason %s", run, drill.VolumePasswordMismatch)
		}
		cond := meta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionLastDrillPassed)
		if cond == nil || cond.Reason != v1alpha1.ReasonRepositoryPasswordMismatch || !strings.Contains(cond.Message, fsNamespace+"/"+fsPod+"/"+fsVolume) {
			t.Errorf("LastDrillPassed %+v, want %s naming the volume", cond, v1alpha1.ReasonRepositoryPasswordMismatch)
		}
		for _, ch := range run.Checks {
			if ch.Name == drill.CheckRestore && ch.Message != "not run: volume data could not be restored" {
				t.Errorf("restore check %+v, want not run: Velero is never asked", ch)
			}
		}
		for _, out := range []string{stdout, stderr, ctl.log.String(), cond.Message} {
			if strings.Contains(out, "not-the-sealed-password") || strings.Contains(out, string(good)) {
				t.Errorf("a repository password shows in the output, log or condition")
			}
		}
		dcNoLeftovers(t, c)
		l2cNoLeftovers(t, b, run)
	})
}

// hasRun reports whether the Node ran a pod whose arguments hold arg.
func hasRun(runs []testbed.NodeRun, arg string) bool {
	for _, r := range runs {
		for _, a := range r.Args {
			if a == arg && r.ExitCode == 0 {
				return true
			}
		}
	}
	return false
}

// l2cNoLeftovers fails when run left a staged PodVolumeBackup or
// BackupRepository, a staged blob, or a reader Job.
func l2cNoLeftovers(t *testing.T, b *bed, run *v1alpha1.DrillRun) {
	t.Helper()
	expectNoStaged(t, b.cp.Client, b.velero.Namespace, run.StagedName)
	if left := sealtest.Snapshot(t, sealtest.OpenStore(t, b.s3.Config(l2cStaging, "")), "kopia/"); len(left) > 0 {
		t.Errorf("the staging location still holds %v", sealtest.Keys(left))
	}
	for _, ns := range run.ScratchNamespaces {
		job := &batchv1.Job{}
		err := b.cp.Client.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: volumereader.JobName}, job)
		if err == nil && job.DeletionTimestamp.IsZero() {
			t.Errorf("the reader Job is left in %s", ns)
		} else if client.IgnoreNotFound(err) != nil {
			t.Error(err)
		}
	}
}
