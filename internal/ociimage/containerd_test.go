package ociimage

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerdStartTimeout bounds the wait for containerd's socket.
const containerdStartTimeout = 30 * time.Second

// TestContainerdImport imports what make image writes into a real
// containerd (Debian package containerd; hack/install-deps.sh installs it)
// with `ctr images import`, as `kind load image-archive` does: the
// tarball, and the OCI layout as an archive, which keeps the digest.
func TestContainerdImport(t *testing.T) {
	for _, bin := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s is needed (Debian package containerd; hack/install-deps.sh installs it): %v", bin, err)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("containerd needs root: run the tests as root (CI does)")
	}
	o := options(t)
	img := build(t, o)
	out := t.TempDir()
	if err := Write(out, img, o, testRef); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(out, "oci.tar")
	if b, err := exec.CommandContext(t.Context(), "tar", "-C", filepath.Join(out, LayoutDir), "-cf", ociTar, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar the layout: %v\n%s", err, b)
	}
	ctr := startContainerd(t)

	ctr("--namespace", "docker-archive", "images", "import", filepath.Join(out, TarballFile))
	if list := ctr("--namespace", "docker-archive", "images", "ls", "-q"); !strings.Contains(list, testRef) {
		t.Fatalf("after importing the tarball, images:\n%s", list)
	}
	// Named by the index's io.containerd.image.name annotation.
	ctr("--namespace", "oci-layout", "images", "import", ociTar)
	list := ctr("--namespace", "oci-layout", "images", "ls")
	if !strings.Contains(list, testRef) || !strings.Contains(list, digest(t, img).String()) {
		t.Fatalf("after importing the OCI layout, images (want %s at %s):\n%s", testRef, digest(t, img), list)
	}
	t.Logf("containerd holds:\n%s", list)
}

// startContainerd runs containerd with its state in a temp folder and
// returns a function that runs ctr against it (args start with
// --namespace), failing the test on error.
func startContainerd(t *testing.T) func(args ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctrd") // short: the socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "c.sock")
	config := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(config, []byte("version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", config, "--root", filepath.Join(dir, "root"), //nolint:noctx // stopped in the cleanup
		"--state", filepath.Join(dir, "state"), "--address", sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
		_ = cmd.Wait()                          // exit status after SIGTERM is of no interest
		_ = logf.Close()                        // a log in a folder removed next
		_ = os.RemoveAll(dir)                   // a temp folder: nothing to lose
	})
	ctr := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		b, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock}, args...)...).CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(logf.Name()) // for the message only
			t.Fatalf("ctr %s: %v\n%s\ncontainerd log:\n%s", strings.Join(args, " "), err, b, log)
		}
		return string(b)
	}
	deadline := time.Now().Add(containerdStartTimeout)
	for {
		if _, err := os.Stat(sock); err == nil {
			return ctr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name()) // for the message only
			t.Fatalf("containerd did not listen within %s:\n%s", containerdStartTimeout, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
