package e2e

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	fsNamespace = "phi-records"
	fsPod       = "db"
	fsVolume    = "data"
	fsBackup    = "records-1"
	fsSchedule  = "nightly"
	fsBucket    = "offsite-volumes"
	fsPrefix    = "cluster-v"
)

// TestVolumeFSBackup: Velero's own file-system backup (node-agent out of
// cluster, a hosting pod running `velero pod-volume backup` on the test
// bed's Node) copies a PHI-like volume's files into its kopia repository;
// `safekeep seal` seals the backup with its volume data offsite; key-less
// verify checks every volume blob; `restore --to-dir` gives back the files
// byte for byte with their modes; the PHI marker in the files is nowhere
// offsite in plaintext.
func TestVolumeFSBackup(t *testing.T) {
	b := startBed(t, bedSpec{node: true, crds: true, buckets: map[string]bool{fsBucket: true, l2cBucket: false}, staging: []string{l2Staging, l2cStaging}})
	ctx := t.Context()
	c := b.cp.Client
	marker := "PHI-MARKER-" + randomHex(t, 16)
	scan := make([]byte, 300<<10) // incompressible, several kopia chunks
	if _, err := rand.Read(scan); err != nil {
		t.Fatal(err)
	}
	files := map[string]volumeFile{
		"patients/0001.json":                                 {[]byte(`{"mrn":"0001","name":"Jane Roe","note":"` + marker + `"}`), 0o600},
		"patients/0002.json":                                 {[]byte(`{"mrn":"0002","name":"John Doe","note":"` + marker + `"}`), 0o640},
		"scans/0001/ct-head.dcm":                             {append([]byte(marker), scan...), 0o644},
		"notes/" + strings.Repeat("long-name-", 12) + ".txt": {bytes.Repeat([]byte(marker+"\n"), 1000), 0o644},
		"empty": {nil, 0o600},
	}
	data := t.TempDir()
	writeVolume(t, data, files)

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fsNamespace}}); err != nil {
		t.Fatal(err)
	}
	b.node.LocalVolume(t, ctx, fsNamespace, "records", data)
	b.node.RunPod(t, ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fsPod, Namespace: fsNamespace, Labels: map[string]string{"app": "db"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "db", Image: "postgres:17", VolumeMounts: []corev1.VolumeMount{{Name: fsVolume, MountPath: "/var/lib/postgresql/data"}}}},
			Volumes:    []corev1.Volume{{Name: fsVolume, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "records"}}}},
		},
	})

	backup := b.velero.Backup(t, ctx, fsBackup, velerov1.BackupSpec{
		IncludedNamespaces:       []string{fsNamespace},
		DefaultVolumesToFsBackup: ptr.To(true),
	})
	if backup.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s (%s), want Completed", backup.Status.Phase, backup.Status.FailureReason)
	}
	var pvbs velerov1.PodVolumeBackupList
	if err := c.List(ctx, &pvbs, client.InNamespace(b.velero.Namespace), client.MatchingLabels{velerov1.BackupNameLabel: fsBackup}); err != nil {
		t.Fatal(err)
	}
	if len(pvbs.Items) != 1 || pvbs.Items[0].Status.Phase != velerov1.PodVolumeBackupPhaseCompleted || pvbs.Items[0].Status.SnapshotID == "" {
		t.Fatalf("PodVolumeBackups of %s = %+v, want one Completed with a snapshot ID", fsBackup, pvbs.Items)
	}
	if runs := b.node.Runs(); !slices.ContainsFunc(runs, func(r testbed.NodeRun) bool {
		return len(r.Args) > 1 && r.Args[0] == "pod-volume" && r.Args[1] == "backup" && r.ExitCode == 0
	}) {
		t.Fatalf("the node ran no successful velero pod-volume backup: %+v", runs)
	}
	mc := b.s3.Minio(t)
	if repo := readObjects(t, mc, veleroBucket, "kopia/"+fsNamespace+"/"); len(repo) < 5 {
		t.Fatalf("Velero's kopia repository for %s holds %d blobs, want the repository's and the snapshot's", fsNamespace, len(repo))
	}

	kit, offsite := sealVolumes(t, b, fsBucket, fsPrefix, fsSchedule, fsBackup, fsNamespace)
	t.Run("verify, and restore --to-dir writes the volume's files byte for byte", func(t *testing.T) {
		testVolumeToDir(t, kit, fsSchedule+"/"+fsBackup, fsNamespace+"/"+fsPod+"/"+fsVolume, files)
	})

	lc := level2Case{name: "fs", kit: kit, bucket: fsBucket, prefix: fsPrefix, schedule: fsSchedule, backup: fsBackup,
		source: fsNamespace, claim: "records", files: files, restoredBy: "PodVolumeRestores"}
	t.Run("level 2 drill restores the volume through Velero", func(t *testing.T) { testLevel2Drill(t, b, lc) })
	t.Run("level 2 drill fails when a restored file differs", func(t *testing.T) { testLevel2Damage(t, b, lc) })
	t.Run("restore --namespace-mapping restores the volume through Velero", func(t *testing.T) { testLevel2RestoreCLI(t, b, lc) })
	t.Run("a scheduled Level 2 drill through the controller", func(t *testing.T) { testLevel2Controller(t, b, files) })

	t.Run("no offsite object shows the PHI marker", func(t *testing.T) {
		for key, body := range offsite {
			if containsMarker(body, marker, 3) {
				t.Errorf("offsite object %s shows the volume's plaintext marker", key)
			}
		}
	})
}

// sealVolumes seals backup of Velero's bucket with its volume data into
// bucket/prefix with `safekeep seal` (Velero's repository password read
// from its Secret), checks that offsite holds at least 5 volume blobs of
// namespace ns, and returns the kit and every offsite object.
func sealVolumes(t *testing.T, b *bed, bucket, prefix, schedule, backup, ns string) (*sealKit, map[string][]byte) {
	t.Helper()
	secret := &corev1.Secret{}
	if err := b.cp.Client.Get(t.Context(), client.ObjectKey{Namespace: b.velero.Namespace, Name: "velero-repo-credentials"}, secret); err != nil {
		t.Fatalf("Velero's repository password: %v", err)
	}
	password := writeFile(t, t.TempDir(), "repository-password", string(secret.Data["repository-password"]))
	kit := newSealKit(t, b, bucket, prefix)
	kit.sk.ok(t, "seal", "--source", kit.bsl, "--backup", backup, "--target-file", kit.target,
		"--schedule", schedule, "--signing-key", kit.signingKey, "--repository-password-file", password)
	offsite := readObjects(t, b.s3.Minio(t), bucket, "")
	volumeBlobs := 0
	for key := range offsite {
		if strings.HasPrefix(key, prefix+"/safekeep/v1/volumes/default/"+ns+"/") && strings.Contains(key, "/blobs/") {
			volumeBlobs++
		}
	}
	if volumeBlobs < 5 {
		t.Fatalf("offsite holds %d volume blobs of %s, want the repository's and the snapshot's; keys: %v", volumeBlobs, ns, slices.Sorted(maps.Keys(offsite)))
	}
	return kit, offsite
}

// testVolumeToDir: key-less and keyed verify pass, and `restore --to-dir`
// writes the volume named path (namespace/pod/volume, or
// namespace/_pvc/pvc) under volumes/ with files' bytes and modes.
func testVolumeToDir(t *testing.T, kit *sealKit, ref, path string, files map[string]volumeFile) {
	if out := kit.sk.ok(t, "verify", "--target-file", kit.target, "--backup", ref); !strings.Contains(out, "intact: "+ref) {
		t.Errorf("verify says:\n%s\nwant intact: %s", out, ref)
	}
	kit.sk.ok(t, "verify", "--target-file", kit.target, "--backup", ref, "--identity", kit.identity)
	out := filepath.Join(t.TempDir(), "restored")
	said := kit.sk.ok(t, "restore", "--target-file", kit.target, "--backup", ref, "--identity", kit.identity, "--to-dir", out)
	if want := "volumes/" + path; !strings.Contains(said, want) {
		t.Errorf("restore says:\n%s\nwant it to name %s", said, want)
	}
	got := readVolume(t, filepath.Join(out, "volumes", filepath.FromSlash(path)))
	for name, want := range files {
		if g, ok := got[name]; !ok || !g.equal(want) {
			t.Errorf("restored %s: present %v, %d bytes mode %v; want %d bytes mode %v", name, ok, len(g.body), g.mode, len(want.body), want.mode)
		}
	}
	for name := range got {
		if _, ok := files[name]; !ok {
			t.Errorf("restored %s, which the volume did not hold", name)
		}
	}
}

// volumeFile is a file of a volume: its content and permission bits.
type volumeFile struct {
	body []byte
	mode fs.FileMode
}

// equal reports whether f and g have the same content and mode.
func (f volumeFile) equal(g volumeFile) bool { return bytes.Equal(f.body, g.body) && f.mode == g.mode }

// writeVolume writes files (slash-separated names) under dir.
func writeVolume(t *testing.T, dir string, files map[string]volumeFile) {
	t.Helper()
	for name, f := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, f.body, f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, f.mode); err != nil { // not masked by the umask
			t.Fatal(err)
		}
	}
}

// readVolume reads every regular file under dir.
func readVolume(t *testing.T, dir string) map[string]volumeFile {
	t.Helper()
	files := map[string]volumeFile{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = volumeFile{body, info.Mode().Perm()}
		return err
	})
	if err != nil {
		t.Fatalf("read restored volume: %v", err)
	}
	return files
}
