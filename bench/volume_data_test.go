package bench

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

// fileSize is the size of each file of the benchmarks' volumes.
const fileSize = 1 << 20

// volumeMiB is the size of each of the two volumes: 1 GiB (2 GiB sealed, 1
// GiB restored and verified, as the issue asks) unless BENCH_VOLUME_MIB says
// less, for a quick look on a busy machine.
func volumeMiB(tb testing.TB) int {
	tb.Helper()
	return envInt(tb, "BENCH_VOLUME_MIB", 1024)
}

// rounds is how many times each side-by-side comparison runs, the order
// rotating each round (BENCH_ROUNDS, default 3); ratios are medians.
func rounds(tb testing.TB) int {
	tb.Helper()
	return envInt(tb, "BENCH_ROUNDS", 3)
}

func envInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// writeVolume writes files files of fileSize incompressible bytes under dir;
// gen selects the content, so writing a file again with another gen changes
// it entirely.
func writeVolume(tb testing.TB, dir string, vol, files int) {
	tb.Helper()
	for i := range files {
		writeVolumeFile(tb, dir, vol, i, 0)
	}
}

func writeVolumeFile(tb testing.TB, dir string, vol, i, gen int) {
	tb.Helper()
	path := filepath.Join(dir, fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%05d.bin", i))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], uint64(vol))
	binary.LittleEndian.PutUint64(seed[8:], uint64(i))
	binary.LittleEndian.PutUint64(seed[16:], uint64(gen))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	if _, err := io.Copy(w, io.LimitReader(rand.NewChaCha8(seed), fileSize)); err != nil {
		tb.Fatal(err)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		tb.Fatal(err)
	}
}

// dirStats counts the regular files under dir and their bytes.
func dirStats(tb testing.TB, dir string) (files, bytes int64) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		bytes += fi.Size()
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files, bytes
}

// kopiaBed is a kopia repository made by the kopia CLI (the fork Velero
// pins) in the primary bucket, where Velero keeps a namespace's repository.
type kopiaBed struct {
	bin, dir string
	s3       *testbed.S3Server
	env      []string
}

func newKopiaBed(tb testing.TB, s3 *testbed.S3Server, dir string) *kopiaBed {
	tb.Helper()
	home := filepath.Join(dir, "kopia-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		tb.Fatal(err)
	}
	return &kopiaBed{bin: testbed.Bin(tb, "kopia"), dir: dir, s3: s3,
		env: testbed.ChildEnv("HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, "cache"),
			"KOPIA_CHECK_FOR_UPDATES=false", "KOPIA_PASSWORD="+volumetest.Password,
			"AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.SecretKey)}
}

// cmd is kopia with config (a file under the bed's folder) and args.
func (k *kopiaBed) cmd(ctx context.Context, config string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, k.bin, append([]string{"--config-file", filepath.Join(k.dir, config)}, args...)...)
	cmd.Env = k.env
	return cmd
}

func (k *kopiaBed) ok(tb testing.TB, config string, args ...string) []byte {
	tb.Helper()
	cmd := k.cmd(tb.Context(), config, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("kopia %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// s3Args are the flags of `kopia repository create|connect s3` for the
// repository of namespace in the primary bucket; each config gets its own
// cache folder.
func (k *kopiaBed) s3Args(config, namespace string) []string {
	return []string{"s3", "--bucket", "primary", "--prefix", volume.RepositoryPrefix(namespace),
		"--endpoint", strings.TrimPrefix(k.s3.Endpoint, "http://"), "--disable-tls", "--region", "us-east-1",
		"--cache-directory", filepath.Join(k.dir, config+".cache")}
}

// create makes the repository as Velero's node-agent would (Velero's
// udmrepo.Repository blob beside kopia's) and turns kopia's automatic
// maintenance off (Velero runs maintenance itself, on its own schedule) so
// that no compaction runs between the benchmark's steps.
func (k *kopiaBed) create(tb testing.TB, mc *minio.Client, config, namespace string) {
	tb.Helper()
	k.ok(tb, config, append(append([]string{"repository", "create"}, k.s3Args(config, namespace)...),
		"--override-hostname", "node-1", "--override-username", "velero")...)
	k.ok(tb, config, "maintenance", "set", "--enable-quick=false", "--enable-full=false")
	meta := `{"fullMaintainInterval":"normalGC"}`
	put(tb.Context(), tb, mc, volume.RepositoryPrefix(namespace)+"udmrepo.Repository", strings.NewReader(meta), int64(len(meta)))
}

// connect connects a new config (with an empty cache) to the repository.
func (k *kopiaBed) connect(tb testing.TB, config, namespace string) {
	tb.Helper()
	k.ok(tb, config, append([]string{"repository", "connect"}, k.s3Args(config, namespace)...)...)
}

// snapshot backs dir up and returns the snapshot's ID.
func (k *kopiaBed) snapshot(tb testing.TB, config, dir string) string {
	tb.Helper()
	var man struct {
		ID string `json:"id"`
	}
	out := k.ok(tb, config, "snapshot", "create", dir, "--json")
	if err := json.Unmarshal(out, &man); err != nil || man.ID == "" {
		tb.Fatalf("kopia snapshot create %s printed %q: %v", dir, out, err)
	}
	return man.ID
}

// writeVolumeBackup writes a completed Velero backup named name in the
// primary bucket (a small tarball) whose pod volumes are vols.
func writeVolumeBackup(tb testing.TB, mc *minio.Client, store storage.Store, name string, vols []volumetest.PodVolume) {
	tb.Helper()
	prefix := "backups/" + name + "/"
	meta := `{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"` + name + `","namespace":"velero"},` +
		`"spec":{"storageLocation":"default"},"status":{"phase":"Completed","startTimestamp":"2026-11-25T00:00:00Z","completionTimestamp":"2026-11-25T00:00:10Z"}}`
	put(tb.Context(), tb, mc, prefix+"velero-backup.json", strings.NewReader(meta), int64(len(meta)))
	tarball := veleroTarball(tb)
	put(tb.Context(), tb, mc, prefix+name+".tar.gz", bytes.NewReader(tarball), int64(len(tarball)))
	volumetest.WriteBackup(tb, store, name, "default", vols)
}

// veleroTarball is a backup tarball holding Velero's metadata/version only:
// these backups are about their volumes.
func veleroTarball(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	version := []byte("1.1.0\n")
	if err := tw.WriteHeader(&tar.Header{Name: "metadata/version", Mode: 0o644, Size: int64(len(version))}); err != nil {
		tb.Fatal(err)
	}
	if _, err := tw.Write(version); err != nil {
		tb.Fatal(err)
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// objects lists bucket under prefix: key to size.
func objects(tb testing.TB, mc *minio.Client, bucket, prefix string) map[string]int64 {
	tb.Helper()
	out := make(map[string]int64)
	for o := range mc.ListObjects(tb.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			tb.Fatalf("list %s/%s: %v", bucket, prefix, o.Err)
		}
		out[o.Key] = o.Size
	}
	return out
}

func total(objs map[string]int64) int64 {
	var n int64
	for _, size := range objs {
		n += size
	}
	return n
}

// removePrefix deletes what a round wrote, to keep the shared disk free;
// offsite objects are locked in governance mode, so it bypasses that.
func removePrefix(tb testing.TB, mc *minio.Client, bucket, prefix string) {
	tb.Helper()
	ctx := tb.Context()
	objs := make(chan minio.ObjectInfo)
	go func() {
		defer close(objs)
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
			if o.Err == nil {
				objs <- o
			}
		}
	}()
	for e := range mc.RemoveObjects(ctx, bucket, objs, minio.RemoveObjectsOptions{GovernanceBypass: true}) {
		tb.Logf("cleanup: remove %s/%s: %v (left on disk)", bucket, e.ObjectName, e.Err)
	}
}

// upload is what one seal added offsite.
type upload struct {
	volumeBlobs, receipts, other int64 // bytes
	blobs, objects               int
	blobIDs                      []string // kopia blob IDs of the new volume blobs
}

func (u upload) total() int64 { return u.volumeBlobs + u.receipts + u.other }

func (u upload) String() string {
	s := fmt.Sprintf("uploaded %d objects, %.3f MiB: %d volume blobs %.3f MiB, receipts %.1f KiB, backup objects+manifest+seal %.1f KiB",
		u.objects, mib(u.total()), u.blobs, mib(u.volumeBlobs), float64(u.receipts)/1024, float64(u.other)/1024)
	if len(u.blobIDs) <= 8 {
		s += fmt.Sprintf(" (volume blobs: %s)", strings.Join(u.blobIDs, " "))
	}
	return s
}

// uploaded runs do (a seal) and returns what it added under prefix of the
// offsite bucket (every offsite write is a create).
func uploaded(tb testing.TB, do func(), mc *minio.Client, prefix string) upload {
	tb.Helper()
	before := objects(tb, mc, "offsite", prefix)
	do()
	var u upload
	for key, size := range objects(tb, mc, "offsite", prefix) {
		if _, ok := before[key]; ok {
			continue
		}
		u.objects++
		switch _, blob, isBlob := strings.Cut(key, "/blobs/"); {
		case isBlob:
			u.volumeBlobs += size
			u.blobs++
			u.blobIDs = append(u.blobIDs, strings.TrimSuffix(blob, ".age"))
		case strings.Contains(key, "/receipts/"):
			u.receipts += size
		default:
			u.other += size
		}
	}
	slices.Sort(u.blobIDs)
	return u
}
