package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// controllerBuildTimeout bounds `go build ./cmd/safekeep-controller`.
	controllerBuildTimeout = 10 * time.Minute
	// controllerStartTimeout bounds the wait for its health probe.
	controllerStartTimeout = time.Minute
	// controllerStopTimeout bounds the wait after SIGTERM.
	controllerStopTimeout = 30 * time.Second
)

// controllerProcess is safekeep-controller running as a child process
// against a test bed's control plane.
type controllerProcess struct {
	cmd         *exec.Cmd
	log         *testbed.SyncBuffer
	metricsAddr string
	done        chan struct{}
	err         error
}

// buildController builds ./cmd/safekeep-controller (with the race detector
// when the tests run with it) into dir.
func buildController(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), controllerBuildTimeout)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "safekeep-controller")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/safekeep-controller")...)
	cmd.Dir = root
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build safekeep-controller: %v\n%s", err, b)
	}
	t.Logf("built safekeep-controller in %s", time.Since(start).Round(time.Millisecond))
	return out
}

// startController runs the controller binary with kubeconfig and extra
// flags, waits until its readiness probe answers, and stops it (SIGTERM)
// when the test ends. Its environment holds no AWS credentials: it must
// read them from the cluster.
func startController(t *testing.T, bin, kubeconfig string, extra ...string) *controllerProcess {
	t.Helper()
	probe := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(t))
	p := &controllerProcess{log: &testbed.SyncBuffer{}, metricsAddr: "127.0.0.1:" + strconv.Itoa(testbed.FreePort(t)), done: make(chan struct{})}
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--velero-namespace", testbed.VeleroNamespace,
		"--metrics-bind-address", p.metricsAddr,
		"--health-probe-bind-address", probe,
	}, extra...)
	// Not CommandContext: stop ends it with SIGTERM, and cleanups run after
	// the test's context is done.
	p.cmd = exec.Command(bin, args...) //nolint:noctx // see above
	p.cmd.Env = testbed.ChildEnv("HOME=" + t.TempDir())
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start safekeep-controller: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("safekeep-controller output (tail):\n%s", p.log.Tail(16<<10))
		}
	})
	deadline := time.Now().Add(controllerStartTimeout)
	for {
		select {
		case <-p.done:
			t.Fatalf("safekeep-controller exited: %v\n%s", p.err, p.log.Tail(16<<10))
		default:
		}
		resp, err := httpGet(t.Context(), "http://"+probe+"/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("safekeep-controller not ready within %s: %v\n%s", controllerStartTimeout, err, p.log.Tail(16<<10))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits, then kills.
func (p *controllerProcess) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(controllerStopTimeout):
		t.Errorf("safekeep-controller ignored SIGTERM for %s; killing it", controllerStopTimeout)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// metrics returns the text of the controller's /metrics.
func (p *controllerProcess) metrics(t *testing.T) string {
	t.Helper()
	resp, err := httpGet(t.Context(), "http://"+p.metricsAddr+"/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// httpGet GETs url with ctx.
func httpGet(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// readFile reads a file the test wrote (or had the CLI write).
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// controllerKeys are the keys of a controller test's OffsiteTarget: an age
// identity file and its recipient, and a signing key (PEM).
type controllerKeys struct {
	identity, recipient string
	signingPEM          []byte
}

// newControllerKeys makes the keys with `safekeep keygen` in dir.
func newControllerKeys(t *testing.T, sk *cli, dir string) controllerKeys {
	t.Helper()
	k := controllerKeys{identity: dir + "/identity.txt"}
	k.recipient = regexp.MustCompile(`age1[0-9a-z]+`).FindString(sk.ok(t, "keygen", "-o", k.identity))
	signingKey := dir + "/signing.key"
	sk.ok(t, "keygen", "--signing", "-o", signingKey)
	k.signingPEM = readFile(t, signingKey)
	return k
}
