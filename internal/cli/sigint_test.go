package cli

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestInterrupt seals a large backup with the real binary, sends SIGINT (as
// Ctrl-C does) once the seal has started, and wants one error line, exit 1,
// no seal.json; then the next seal completes the copy.
func TestInterrupt(t *testing.T) {
	b := newBed(t)
	bin := buildCLI(t)
	b.putBackup(t, "big", "Completed")
	// Then a large tarball in place of the small one.
	const size = 192 << 20
	key := veleroPrefix + "/backups/big/big.tar.gz"
	if _, err := b.s3.Minio(t).PutObject(t.Context(), veleroBucket, key, bytesReader(size), size, minio.PutObjectOptions{PartSize: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	keys := keygenStep(t, b)
	b.pin = keys.verifyKey
	bsl, target := b.writeBSL(t), b.writeTarget(t, "target.yaml", offsiteBucket, false, keys.recipient)

	cmd := exec.CommandContext(t.Context(), bin, "seal", "--source", bsl, "--backup", "big", "--target-file", target, "--signing-key", keys.signing)
	cmd.Env = testbed.ChildEnv("AWS_ACCESS_KEY_ID="+b.s3.AccessKey, "AWS_SECRET_ACCESS_KEY="+b.s3.SecretKey,
		"AWS_SHARED_CREDENTIALS_FILE="+b.path("none"), "AWS_CONFIG_FILE="+b.path("none"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Wait (bounded) until the first objects are offsite, then interrupt
	// while the large one is on its way.
	objects := "cluster-a/safekeep/v1/backups/manual/big/objects/"
	mc := b.s3.Minio(t)
	deadline := time.Now().Add(30 * time.Second)
	for (<-mc.ListObjects(t.Context(), offsiteBucket, minio.ListObjectsOptions{Prefix: objects, MaxKeys: 1})).Key == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the seal did not start within 30 s; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("safekeep did not stop within 30 s of SIGINT")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailure {
		t.Fatalf("after SIGINT: %v, want exit status 1; stdout %q", err, stdout.String())
	}
	r := result{code: exit.ExitCode(), out: stdout.String(), err: stderr.String()}
	t.Logf("safekeep seal (interrupted)\nexit %d\n%s%s", r.code, r.out, r.err)
	checkOneLine(t, r, exitFailure, "seal manual/big: interrupted; the offsite copy stays incomplete")
	if _, err := mc.StatObject(t.Context(), offsiteBucket, "cluster-a/safekeep/v1/backups/manual/big/seal.json", minio.StatObjectOptions{}); err == nil {
		t.Fatal("an interrupted seal left a seal.json")
	}
	if r := b.run(t, "backups", "--target-file", target); r.code != 0 || !regexp.MustCompile(`(?m)^manual\s+big\s+incomplete\s`).MatchString(r.out) {
		t.Errorf("backups does not list the interrupted seal as incomplete:\n%s", r.out)
	}

	// The next run completes it.
	out := b.ok(t, "seal", "--source", bsl, "--backup", "big", "--target-file", target, "--signing-key", keys.signing)
	if !strings.Contains(out, "manual/big (sealed)") || !strings.Contains(out, "192 MiB") {
		t.Errorf("resumed seal:\n%s", out)
	}
	b.ok(t, "verify", "--target-file", target, "--backup", "manual/big")
}

// buildCLI builds cmd/safekeep into a temporary folder.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "safekeep")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/safekeep")
	cmd.Dir = testbed.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/safekeep: %v\n%s", err, out)
	}
	return bin
}

// bytesReader streams n pseudo-random bytes without holding them.
func bytesReader(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{1}), n)
}
