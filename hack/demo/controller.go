package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// startController builds safekeep-controller and runs it as a process
// against the demo cluster, as an operator would run it outside one. Its
// log goes to dir/controller.log.
func startController(r *runner, dir, kubeconfig, namespace string) {
	bin := filepath.Join(dir, "bin", "safekeep-controller")
	build := exec.CommandContext(r.Context(), "go", "build", "-o", bin, "./cmd/safekeep-controller")
	build.Dir = testbed.RepoRoot(r)
	if out, err := build.CombinedOutput(); err != nil {
		r.Fatalf("build safekeep-controller: %v\n%s", err, out)
	}
	logPath := filepath.Join(dir, "controller.log")
	logf, err := os.Create(logPath)
	if err != nil {
		r.Fatalf("controller log: %v", err)
	}
	metrics := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(r))
	probes := "127.0.0.1:" + strconv.Itoa(testbed.FreePort(r))
	// Not CommandContext: the controller must get SIGTERM and stop cleanly
	// during cleanup, after the demo's context has ended.
	cmd := exec.Command(bin, "--kubeconfig", kubeconfig, "--namespace", namespace, //nolint:noctx // stopped in Cleanup
		"--metrics-bind-address", metrics, "--health-probe-bind-address", probes)
	cmd.Env = testbed.ChildEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Fatalf("start safekeep-controller: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done); _ = logf.Close() }()
	r.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	waitReady(r, "http://"+probes+"/readyz", done)
	fmt.Printf("    safekeep-controller running: log %s, metrics http://%s/metrics\n", logPath, metrics)
}

// waitReady polls the controller's readiness probe, for a minute at most.
func waitReady(r *runner, url string, exited <-chan struct{}) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			r.Fatalf("safekeep-controller exited; see controller.log")
		default:
		}
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
		if err != nil {
			r.Fatalf("readyz: %v", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.Fatalf("safekeep-controller not ready within a minute; see controller.log")
}
