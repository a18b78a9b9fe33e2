package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/drill/volumereader"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
)

// l2Staging is the staging location (and its bucket) of the Level 2 tests.
const l2Staging = "staging-volumes"

// l2Label marks the namespaces the Level 2 restores go to, for the Node's
// scheduler (Node.ScheduleIn): the value says which test.
const l2Label = "e2e.safekeep.dev/level2"

// level2Case is a sealed backup with volume data that the Level 2 tests
// restore through Velero.
type level2Case struct {
	name                     string // in staged names, labels and namespaces
	kit                      *sealKit
	bucket, prefix           string // the offsite target's
	schedule, backup, source string // source: the backed-up namespace
	claim                    string // the PVC whose restored files are read back
	files                    map[string]volumeFile
	// restoredBy is what restore --namespace-mapping says Velero
	// completed: "PodVolumeRestores" or "DataDownloads".
	restoredBy string
}

// testLevel2Drill: a Level 2 drill of the sealed backup (drill.Run with
// RestoreVolumes) stages the repository blobs, a Ready BackupRepository and
// what Velero's restore of the volume needs in the staging location
// (renamed PodVolumeBackups for pod volumes; a data mover volume's
// DataUpload is in the staged tarball), Velero's Restore has node-agent
// restore the volume into a scratch namespace (a PodVolumeRestore or a
// DataDownload), and every restored file's digest matches the snapshot's;
// cleanup leaves nothing.
func testLevel2Drill(t *testing.T, b *bed, lc level2Case) {
	ctx := t.Context()
	c := b.cp.Client
	opts := level2Options(t, b, lc, "drill-"+lc.name)
	staged := opts.StagedName
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
	want := fmt.Sprintf("%d files", len(lc.files))
	if !ch.Passed || !strings.Contains(ch.Message, want) || !strings.Contains(ch.Message, "match the snapshots") {
		t.Errorf("volume-files check %+v, want passed on %s", ch, want)
	}
	// Independently of the check: Velero's node-agent restored the volume,
	// and it holds the files.
	if n := completedRestores(t, c, b.velero.Namespace, staged, lc.restoredBy); n != 1 {
		t.Errorf("%d Completed %s of Restore %s, want 1", n, lc.restoredBy, staged)
	}
	dest := res.Namespaces[lc.source]
	if got := readVolume(t, restoredVolumeDir(t, c, dest, lc.claim)); !maps.EqualFunc(got, lc.files, func(a, b volumeFile) bool { return string(a.body) == string(b.body) }) {
		t.Errorf("restored volume in %s holds other files than the backup's", dest)
	}

	cleanLevel2(t, b, opts)
}

// level2Options are the options of a Level 2 drill (drill.Run with
// RestoreVolumes) of lc's backup staged as "l2-<run>" in l2Staging, its
// restores scheduled on the Node by the label l2Label=run, and the
// restored volumes read where the Node's kubelet keeps them.
func level2Options(t *testing.T, b *bed, lc level2Case, run string) drill.Options {
	t.Helper()
	labels := map[string]string{l2Label: run}
	b.node.ScheduleIn(labels)
	staged := "l2-" + run
	return drill.Options{
		Offsite: sealtest.OpenStore(t, b.s3.Config(lc.bucket, lc.prefix+"/safekeep/v1")), Identities: readIdentities(t, lc.kit.identity),
		TrustedKeys: []crypto.VerifyKey{readSigner(t, lc.kit.signingKey).Public()},
		Schedule:    lc.schedule, Backup: lc.backup,
		Client: b.cp.Client, VeleroNamespace: b.velero.Namespace, StagingLocation: l2Staging,
		Staging: sealtest.OpenStore(t, b.s3.Config(l2Staging, "")), StagedName: staged,
		MapNamespace:     func(src string) string { return staged + "-" + src },
		CreateNamespaces: true, Labels: labels,
		RestoreVolumes: true, VolumeFiles: restoredVolumeFiles(b.cp.Client),
		RestoreTimeout: 3 * time.Minute,
	}
}

// cleanLevel2 cleans up the Level 2 drill of opts and fails when a staged
// blob, object, PodVolumeBackup or BackupRepository is left.
func cleanLevel2(t *testing.T, b *bed, opts drill.Options) {
	t.Helper()
	if err := drill.Cleanup(t.Context(), drill.CleanupFor(opts)); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	for _, prefix := range []string{"kopia/", "backups/"} {
		if left := sealtest.Snapshot(t, opts.Staging, prefix); len(left) > 0 {
			t.Errorf("staging location still holds %v", sealtest.Keys(left))
		}
	}
	expectNoStaged(t, b.cp.Client, b.velero.Namespace, opts.StagedName)
}

// testLevel2RestoreCLI: `safekeep restore --namespace-mapping` restores the
// volume through Velero as a Level 2 drill does, into an existing
// namespace, reads it back with the reader Job of --volume-reader-image
// (run for real by the Node's kubelet), every file matching the snapshot,
// records the volume's restored and matched counts in its audit entry
// (read back from the bucket: counts and a digest, no name), and removes
// the staged copy.
func testLevel2RestoreCLI(t *testing.T, b *bed, lc level2Case) {
	ctx := t.Context()
	c := b.cp.Client
	b.node.RunImage(l2cImage, b.controllerBinary(t))
	labels := map[string]string{l2Label: "cli-" + lc.name}
	b.node.ScheduleIn(labels)
	dest := "l2-incident-" + lc.name
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dest, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	sk := newCLI(t, b.s3)
	sk.env = append(sk.env, "KUBECONFIG="+b.cp.Kubeconfig)
	stdout, stderr, err := sk.run(t, "restore", "--target-file", lc.kit.target, "--backup", lc.schedule+"/"+lc.backup, "--identity", lc.kit.identity,
		"--namespace-mapping", lc.source+":"+dest, "--staging-location", l2Staging, "--signing-key", lc.kit.signingKey, "--restore-timeout", "3m",
		"--volume-reader-image", l2cImage)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	var bytes int64
	for _, f := range lc.files {
		bytes += int64(len(f.body))
	}
	matched := fmt.Sprintf("%d files, %d bytes in 1 volume restored by Velero match the snapshots", len(lc.files), bytes)
	if !strings.Contains(stdout, "restored and verified") || !strings.Contains(stdout, matched) {
		t.Errorf("restore says:\n%s\nwant the volume restored by Velero and every file matched (%q)", stdout, matched)
	}
	if runs := b.node.Runs(); !hasRun(runs, volumereader.Command) {
		t.Errorf("the Node ran no reader: %+v", runs)
	}
	entry, det := restoreAuditEntry(t, b.s3, lc.bucket, lc.prefix+"/safekeep/v1/", stdout)
	want := audit.VolumeRestored{Files: int64(len(lc.files)), Bytes: bytes, MatchedFiles: int64(len(lc.files)), MatchedBytes: bytes, Passed: true}
	if len(det.Volumes) != 1 || det.Volumes[0].Restored == nil || *det.Volumes[0].Restored != want || !det.Volumes[0].Passed ||
		!strings.HasPrefix(det.Volumes[0].Volume, "sha256:") || det.Volumes[0].NotVerified != audit.VolumeNotVerifiedSkipped {
		t.Errorf("audit entry %d volumes %+v, want one restored %+v under a digest, Level 1 not run", entry.Seq, det.Volumes, want)
	}
	// The entry names the namespaces (namespaceMapping), never a volume,
	// claim or file.
	vols, _ := json.Marshal(det.Volumes)
	for _, word := range []string{lc.source, lc.claim, "patients", "scans/"} {
		if strings.Contains(string(vols), word) {
			t.Errorf("audit entry %d volumes name %q: %s", entry.Seq, word, vols)
		}
	}
	for _, word := range []string{"patients", "scans/", "ct-head"} {
		if strings.Contains(string(entry.Details), word) {
			t.Errorf("audit entry %d names the file %q: %s", entry.Seq, word, entry.Details)
		}
	}
	if got := readVolume(t, restoredVolumeDir(t, c, dest, lc.claim)); !maps.EqualFunc(got, lc.files, func(a, b volumeFile) bool { return string(a.body) == string(b.body) }) {
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

// restoreAuditEntry reads, from bucket under root, the audit entry a
// restore's stdout says it recorded ("audit entry N recorded (HASH)").
func restoreAuditEntry(t *testing.T, s3 *testbed.S3Server, bucket, root, stdout string) (*audit.Entry, *audit.RestoreDetails) {
	t.Helper()
	m := regexp.MustCompile(`audit entry (\d+) recorded \(([^)]+)\)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("the restore recorded no audit entry:\n%s", stdout)
	}
	seq, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	key := root + audit.EntryKey(seq, m[2])
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
	var det audit.RestoreDetails
	if err := json.Unmarshal(body, &entry); err != nil {
		t.Fatalf("audit entry %s: %v", key, err)
	}
	if err := json.Unmarshal(entry.Details, &det); err != nil || entry.Kind != audit.KindRestore {
		t.Fatalf("audit entry %s: kind %s, details %v", key, entry.Kind, err)
	}
	return &entry, &det
}

// completedRestores counts the Completed PodVolumeRestores or
// DataDownloads (kind) of Restore name.
func completedRestores(t *testing.T, c client.Client, ns, name, kind string) int {
	t.Helper()
	n := 0
	byRestore := client.MatchingLabels{velerov1.RestoreNameLabel: name}
	switch kind {
	case "PodVolumeRestores":
		var list velerov1.PodVolumeRestoreList
		if err := c.List(t.Context(), &list, client.InNamespace(ns), byRestore); err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			if p.Status.Phase == velerov1.PodVolumeRestorePhaseCompleted {
				n++
			}
		}
	case "DataDownloads":
		var list velerov2alpha1.DataDownloadList
		if err := c.List(t.Context(), &list, client.InNamespace(ns), byRestore); err != nil {
			t.Fatal(err)
		}
		for _, d := range list.Items {
			if d.Status.Phase == velerov2alpha1.DataDownloadPhaseCompleted {
				n++
			}
		}
	default:
		t.Fatalf("no restores of kind %s", kind)
	}
	return n
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
// kubelet keeps it: the folder of the PV bound to its PVC (named as such
// for a data mover volume).
func restoredVolumeFiles(c client.Client) drill.VolumeFiles {
	return func(ctx context.Context, namespace, pod, vol string) (fs.FS, error) {
		if pod == volume.DataMoverDir {
			dir, err := localPVDir(ctx, c, namespace, vol)
			if err != nil {
				return nil, err
			}
			return volume.LocalDir(dir), nil
		}
		p := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: pod}, p); err != nil {
			return nil, err
		}
		for _, v := range p.Spec.Volumes {
			if v.Name == vol && v.PersistentVolumeClaim != nil {
				dir, err := localPVDir(ctx, c, namespace, v.PersistentVolumeClaim.ClaimName)
				if err != nil {
					return nil, err
				}
				return volume.LocalDir(dir), nil
			}
		}
		return nil, fmt.Errorf("pod %s/%s has no PVC volume %s", namespace, pod, vol)
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
	return testbed.VolumeDir(pv)
}

// restoredVolumeDir is the folder of the restored PVC claim in ns.
func restoredVolumeDir(t *testing.T, c client.Client, ns, claim string) string {
	t.Helper()
	dir, err := localPVDir(t.Context(), c, ns, claim)
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
