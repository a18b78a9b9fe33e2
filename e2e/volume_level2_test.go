package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

// l2Staging is the staging location (and its bucket) of the Level 2 tests.
const l2Staging = "staging-volumes"

// l2Label marks the namespaces the Level 2 restores go to, for the Node's
// scheduler (Node.ScheduleIn): the value says which test.
const l2Label = "e2e.safekeep.dev/level2"

// testLevel2Drill: a Level 2 drill of the sealed backup (drill.Run with
// RestoreVolumes) stages the repository blobs, a Ready BackupRepository and
// the renamed PodVolumeBackups in the staging location, Velero's Restore
// has node-agent restore the volume into a scratch namespace, and every
// restored file's digest matches the snapshot's; cleanup leaves nothing.
func testLevel2Drill(t *testing.T, b *bed, kit *sealKit, files map[string]volumeFile) {
	ctx := t.Context()
	c := b.cp.Client
	labels := map[string]string{l2Label: "drill"}
	b.node.ScheduleIn(labels)
	staging := sealtest.OpenStore(t, b.s3.Config(l2Staging, ""))
	opts := drill.Options{
		Offsite: sealtest.OpenStore(t, b.s3.Config(fsBucket, fsPrefix+"/safekeep/v1")), Identities: readIdentities(t, kit.identity),
		TrustedKeys: []crypto.VerifyKey{readSigner(t, kit.signingKey).Public()},
		Schedule:    fsSchedule, Backup: fsBackup,
		Client: c, VeleroNamespace: b.velero.Namespace, StagingLocation: l2Staging, Staging: staging, StagedName: "l2-drill-1",
		MapNamespace:     func(src string) string { return "l2-drill-" + src },
		CreateNamespaces: true, Labels: labels,
		RestoreVolumes: true, VolumeFiles: restoredVolumeFiles(c),
		RestoreTimeout: 3 * time.Minute,
	}
	res, err := drill.Run(ctx, opts)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	for _, ch := range res.Checks {
		t.Logf("%-12s %-5v %s", ch.Name, ch.Passed, ch.Message)
	}
	if !res.Passed {
		t.Errorf("the Level 2 drill failed: %v", res.Failed())
	}
	ch, _ := res.Check(drill.CheckVolumeFiles)
	want := fmt.Sprintf("%d files", len(files))
	if !ch.Passed || !strings.Contains(ch.Message, want) || !strings.Contains(ch.Message, "match the snapshots") {
		t.Errorf("volume-files check %+v, want passed on %s", ch, want)
	}
	// Independently of the check: the restored volume holds the files.
	dest := res.Namespaces[fsNamespace]
	if got := readVolume(t, restoredVolumeDir(t, c, dest)); !maps.EqualFunc(got, files, func(a, b volumeFile) bool { return string(a.body) == string(b.body) }) {
		t.Errorf("restored volume in %s holds other files than the backup's", dest)
	}

	if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	for _, prefix := range []string{"kopia/", "backups/"} {
		if left := sealtest.Snapshot(t, staging, prefix); len(left) > 0 {
			t.Errorf("staging location still holds %v", sealtest.Keys(left))
		}
	}
	expectNoStaged(t, c, b.velero.Namespace, "l2-drill-1")
}

// testLevel2RestoreCLI: `safekeep restore --namespace-mapping` restores the
// volume through Velero as a Level 2 drill does, into an existing
// namespace, and removes the staged copy.
func testLevel2RestoreCLI(t *testing.T, b *bed, kit *sealKit, files map[string]volumeFile) {
	ctx := t.Context()
	c := b.cp.Client
	labels := map[string]string{l2Label: "cli"}
	b.node.ScheduleIn(labels)
	const dest = "l2-incident"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dest, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	sk := newCLI(t, b.s3)
	sk.env = append(sk.env, "KUBECONFIG="+b.cp.Kubeconfig)
	stdout, stderr, err := sk.run(t, "restore", "--target-file", kit.target, "--backup", fsSchedule+"/"+fsBackup, "--identity", kit.identity,
		"--namespace-mapping", fsNamespace+":"+dest, "--staging-location", l2Staging, "--signing-key", kit.signingKey, "--restore-timeout", "3m")
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(stdout, "restored and verified") || !strings.Contains(stdout, "PodVolumeRestores Completed") {
		t.Errorf("restore says:\n%s\nwant the volume restored by Velero", stdout)
	}
	if got := readVolume(t, restoredVolumeDir(t, c, dest)); !maps.EqualFunc(got, files, func(a, b volumeFile) bool { return string(a.body) == string(b.body) }) {
		t.Errorf("restored volume in %s holds other files than the backup's", dest)
	}
	if left := sealtest.Snapshot(t, sealtest.OpenStore(t, b.s3.Config(l2Staging, "")), "kopia/"); len(left) > 0 {
		t.Errorf("staging location still holds %v", sealtest.Keys(left))
	}
	var pvbs velerov1.PodVolumeBackupList
	if err := c.List(ctx, &pvbs, client.InNamespace(b.velero.Namespace), client.HasLabels{drill.LabelStaged}); err != nil || len(pvbs.Items) > 0 {
		t.Errorf("staged PodVolumeBackups left: %d (%v)", len(pvbs.Items), err)
	}
}

// expectNoStaged fails when a PodVolumeBackup or BackupRepository of the
// staged name is left.
func expectNoStaged(t *testing.T, c client.Client, ns, staged string) {
	t.Helper()
	ctx := t.Context()
	var pvbs velerov1.PodVolumeBackupList
	if err := c.List(ctx, &pvbs, client.InNamespace(ns), client.MatchingLabels{velerov1.BackupNameLabel: staged}); err != nil || len(pvbs.Items) > 0 {
		t.Errorf("PodVolumeBackups of %s left: %d (%v)", staged, len(pvbs.Items), err)
	}
	var repos velerov1.BackupRepositoryList
	if err := c.List(ctx, &repos, client.InNamespace(ns), client.MatchingLabels{drill.LabelStagedBackup: staged}); err != nil || len(repos.Items) > 0 {
		t.Errorf("BackupRepositories of %s left: %d (%v)", staged, len(repos.Items), err)
	}
}

// restoredVolumeFiles reads a restored pod's volume where the Node's
// kubelet keeps it: the folder of the local PV bound to its PVC.
func restoredVolumeFiles(c client.Client) drill.VolumeFiles {
	return func(ctx context.Context, namespace, pod, volume string) (fs.FS, error) {
		p := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, p); err != nil {
			return nil, err
		}
		for _, v := range p.Spec.Volumes {
			if v.Name == volume && v.PersistentVolumeClaim != nil {
				dir, err := localPVDir(ctx, c, namespace, v.PersistentVolumeClaim.ClaimName)
				if err != nil {
					return nil, err
				}
				return os.DirFS(dir), nil
			}
		}
		return nil, fmt.Errorf("pod %s/%s has no PVC volume %s", namespace, pod, volume)
	}
}

func localPVDir(ctx context.Context, c client.Client, namespace, claim string) (string, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: claim}, pvc); err != nil {
		return "", err
	}
	pv := &corev1.PersistentVolume{}
	if err := c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return "", err
	}
	if pv.Spec.Local == nil {
		return "", fmt.Errorf("PV %s is not a local volume", pv.Name)
	}
	return pv.Spec.Local.Path, nil
}

// restoredVolumeDir is the folder of the restored pod's volume in ns.
func restoredVolumeDir(t *testing.T, c client.Client, ns string) string {
	t.Helper()
	dir, err := localPVDir(t.Context(), c, ns, "records")
	if err != nil {
		t.Fatalf("restored volume in %s: %v", ns, err)
	}
	return dir
}

func readIdentities(t *testing.T, path string) []crypto.Identity {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ids, err := crypto.ParseIdentities(f)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func readSigner(t *testing.T, path string) crypto.SigningKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseSigningKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
