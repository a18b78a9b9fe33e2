package testbed

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const (
	// terminationMessageMax is the kubelet's bound on a termination message.
	terminationMessageMax = 4096
	// podStopTimeout bounds the wait for a killed pod process.
	podStopTimeout = 15 * time.Second
)

// privateDevScript runs "$@" (after the folder $1) in a mount namespace of
// its own whose /dev is the folder, holding the host's null, zero, full,
// random and urandom devices and an empty termination-log: the container's
// /dev/termination-log, which Velero's pod commands write their result to
// (kube.ExitPodWithMessage) and the kubelet reads back from the folder.
// Each process gets its own, so concurrent pods (and test packages) never
// share one, and the host's /dev is left alone.
const privateDevScript = `set -e
d=$1
shift
for f in null zero full random urandom; do
	: >"$d/$f"
	mount --bind "/dev/$f" "$d/$f"
done
: >"$d/termination-log"
ln -s /proc/self/fd "$d/fd"
mount --rbind "$d" /dev
exec "$@"`

// podProcess is a container's process run by the Node's kubelet.
type podProcess struct {
	*process
	args []string
	dev  string // the process's /dev, outside its namespace
	log  string

	once sync.Once
}

// startPodProcess runs bin (bin/velero, or a binary RunImage names) with
// args and env (plus its own HOME, TMPDIR and the control plane's
// kubeconfig, standing in for the service account) under unshare, with a
// private /dev (privateDevScript), output to PodLogPath.
func (n *Node) startPodProcess(pod *corev1.Pod, bin string, args, env []string) (*podProcess, error) {
	dir := filepath.Dir(n.PodLogPath(string(pod.UID)))
	p := &podProcess{args: args, dev: filepath.Join(dir, "dev"), log: n.PodLogPath(string(pod.UID))}
	home, tmp := filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
	for _, d := range []string{p.dev, home, tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, err
	}
	argv := append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", privateDevScript, "sh", p.dev, bin}, args...)
	env = n.env(append(env, "KUBECONFIG="+n.cp.Kubeconfig, "HOME="+home, "TMPDIR="+tmp)...)
	if p.process, err = startProcess(filepath.Base(bin)+" "+strings.Join(args[:min(2, len(args))], " "), unshare, argv, env, p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// result returns the exit code and the termination message of an ended
// process: the termination-log file, or the tail of its output when that
// is empty and it failed (TerminationMessageFallbackToLogsOnError).
func (p *podProcess) result() (int, string) {
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(p.err, &ee):
		code = ee.ExitCode()
		if code < 0 { // killed by a signal
			code = 137
		}
	case p.err != nil:
		code = 128
	}
	msg, err := os.ReadFile(filepath.Join(p.dev, "termination-log"))
	if err != nil || (len(bytes.TrimSpace(msg)) == 0 && code != 0) {
		msg = []byte(tail(p.log))
	}
	if len(msg) > terminationMessageMax {
		msg = msg[len(msg)-terminationMessageMax:]
	}
	return code, string(msg)
}

// kill ends the process's group and waits for it, once.
func (p *podProcess) kill() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(podStopTimeout):
		}
	})
}
