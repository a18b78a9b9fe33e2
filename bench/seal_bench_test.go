package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	objectSize = 1 << 30 // 1 GiB, as the issue asks
	backupName = "bench"
)

// BenchmarkSealVsRclone seals a 1 GiB Velero-style object offsite with the
// safekeep CLI and, in the same run against the same VersityGW, copies it with
// rclone plain and through rclone's crypt remote. Targets (issue 2): seal wall
// <= 1.0x rclone plain, CPU <= 0.8x rclone crypt, peak RSS <= 128 MiB.
func BenchmarkSealVsRclone(b *testing.B) {
	if _, err := exec.LookPath("rclone"); err != nil {
		b.Fatalf("rclone is needed as the peer (apt-get install rclone): %v", err)
	}
	s3 := testbed.StartS3(b)
	s3.CreateBucket(b, "primary", false)
	s3.CreateBucket(b, "offsite", true)
	s3.CreateBucket(b, "peer", false)
	writeBackup(b, s3.Minio(b))

	dir := b.TempDir()
	safekeep := buildSafekeep(b, dir)
	env := testbed.ChildEnv("AWS_ACCESS_KEY_ID="+s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"RCLONE_CONFIG="+writeRcloneConfig(b, dir, s3))
	recipient, _ := keygen(b, env, safekeep, dir)
	bsl := writeBSL(b, dir, s3.Endpoint)
	target := writeTarget(b, dir, "target.yaml", s3.Endpoint, "bench", recipient, "")

	for i := 0; b.Loop(); i++ {
		sealCmd := exec.CommandContext(b.Context(), safekeep, "seal", "--source", bsl, "--target-file", target,
			"--backup", backupName, "--schedule", fmt.Sprintf("run%d", i), "--signing-key", filepath.Join(dir, "signing.key"))
		sealCmd.Env = env
		seal := run(b, "safekeep seal (age, locked)", sealCmd)

		src := "src:primary/backups/" + backupName + "/" + backupName + ".tar.gz"
		rcloneArgs := []string{"--s3-chunk-size", "64M", "--s3-upload-concurrency", "4", "--retries", "1"}
		plainCmd := exec.CommandContext(b.Context(), "rclone", append([]string{"copyto", src, fmt.Sprintf("dst:peer/plain%d/bench.tar.gz", i)}, rcloneArgs...)...)
		plainCmd.Env = env
		plain := run(b, "rclone copy (plain)", plainCmd)
		cryptCmd := exec.CommandContext(b.Context(), "rclone", append([]string{"copyto", src, fmt.Sprintf("secret:crypt%d/bench.tar.gz", i)}, rcloneArgs...)...)
		cryptCmd.Env = env
		crypt := run(b, "rclone copy (crypt)", cryptCmd)

		b.Logf("1 GiB object, VersityGW on loopback, same run:\n  %v\n  %v\n  %v\n  %s\n  %s\n  %s",
			seal, plain, crypt,
			verdict("wall: seal / rclone plain", seal.wall.Seconds()/plain.wall.Seconds(), 1.0),
			verdict("CPU: seal / rclone crypt", seal.cpu.Seconds()/crypt.cpu.Seconds(), 0.8),
			verdict("peak RSS of seal, MiB / 128", seal.rssMB/128, 1.0))
		b.ReportMetric(seal.wall.Seconds()/plain.wall.Seconds(), "wall-ratio")
		b.ReportMetric(seal.cpu.Seconds()/crypt.cpu.Seconds(), "cpu-ratio")
		b.ReportMetric(seal.rssMB, "seal-rss-MiB")
	}
}

// writeBackup puts a Velero-style backup in the primary bucket: a completed
// velero-backup.json and a 1 GiB incompressible tarball.
func writeBackup(tb testing.TB, mc *minio.Client) {
	tb.Helper()
	ctx := tb.Context()
	prefix := "backups/" + backupName + "/"
	meta := `{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"` + backupName + `","namespace":"velero"},` +
		`"spec":{"storageLocation":"default"},"status":{"phase":"Completed","startTimestamp":"2026-11-25T00:00:00Z","completionTimestamp":"2026-11-25T00:00:10Z"}}`
	put(ctx, tb, mc, prefix+"velero-backup.json", strings.NewReader(meta), int64(len(meta)))
	rng := rand.NewChaCha8([32]byte{1})
	put(ctx, tb, mc, prefix+backupName+".tar.gz", io.LimitReader(rng, objectSize), objectSize)
}

func put(ctx context.Context, tb testing.TB, mc *minio.Client, key string, r io.Reader, size int64) {
	tb.Helper()
	if _, err := mc.PutObject(ctx, "primary", key, r, size, minio.PutObjectOptions{PartSize: 64 << 20}); err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

func buildSafekeep(tb testing.TB, dir string) string {
	tb.Helper()
	return buildGo(tb, dir, "safekeep", "./cmd/safekeep")
}

// buildGo builds the module's package pkg into dir/name.
func buildGo(tb testing.TB, dir, name, pkg string) string {
	tb.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(tb.Context(), "go", "build", "-o", out, pkg)
	cmd.Dir = testbed.RepoRoot(tb)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// keygen writes identity.txt and signing.key in dir and returns the age
// recipient and the signing key's public half (ed25519:...).
func keygen(tb testing.TB, env []string, safekeep, dir string) (recipient, verifyKey string) {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), safekeep, "keygen", "-o", filepath.Join(dir, "identity.txt"))
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("keygen: %v", err)
	}
	cmd = exec.CommandContext(tb.Context(), safekeep, "keygen", "--signing", "-o", filepath.Join(dir, "signing.key"))
	cmd.Env = env
	pub, err := cmd.Output()
	if err != nil {
		tb.Fatalf("keygen --signing: %v", err)
	}
	return strings.TrimSpace(string(out)), strings.TrimSpace(string(pub))
}

func writeBSL(tb testing.TB, dir, endpoint string) string {
	tb.Helper()
	bsl := filepath.Join(dir, "bsl.yaml")
	write(tb, bsl, `apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata: {name: default, namespace: velero}
spec:
  provider: aws
  objectStorage: {bucket: primary}
  config: {region: us-east-1, s3ForcePathStyle: "true", s3Url: "`+endpoint+`"}
`)
	return bsl
}

// writeTarget writes an OffsiteTarget file named name in dir: bucket offsite
// under prefix, object-locked; pin, when set, is its signingPublicKey (what
// restore trusts).
func writeTarget(tb testing.TB, dir, name, endpoint, prefix, recipient, pin string) string {
	tb.Helper()
	target := filepath.Join(dir, name)
	doc := `apiVersion: safekeep.dev/v1alpha1
kind: OffsiteTarget
metadata: {name: offsite}
spec:
  s3: {endpoint: "` + endpoint + `", bucket: offsite, prefix: ` + prefix + `, region: us-east-1}
  recipients: ["` + recipient + `"]
  objectLock: {mode: Governance, retainDays: 1}
  signingKeySecretRef: {name: unused-in-file-mode}
`
	if pin != "" {
		doc += `  signingPublicKey: "` + pin + `"` + "\n"
	}
	write(tb, target, doc)
	return target
}

// writeRcloneConfig sets up the peer: two S3 remotes on the same server (so
// rclone streams the bytes through itself, like the sealer) and a crypt
// remote over the second.
func writeRcloneConfig(tb testing.TB, dir string, s3 *testbed.S3Server) string {
	tb.Helper()
	obscured, err := exec.CommandContext(tb.Context(), "rclone", "obscure", "bench-password").Output()
	if err != nil {
		tb.Fatalf("rclone obscure: %v", err)
	}
	remote := func(name string) string {
		return fmt.Sprintf("[%s]\ntype = s3\nprovider = Other\naccess_key_id = %s\nsecret_access_key = %s\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n\n",
			name, s3.AccessKey, s3.SecretKey, s3.Endpoint)
	}
	conf := remote("src") + remote("dst") +
		"[secret]\ntype = crypt\nremote = dst:peer\npassword = " + strings.TrimSpace(string(obscured)) + "\n"
	path := filepath.Join(dir, "rclone.conf")
	write(tb, path, conf)
	return path
}

func write(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}
