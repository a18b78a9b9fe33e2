package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a process a test-bed part runs in its own process group (so
// that stopping it ends its children too), killed if the test process dies
// first, with its output appended to a log file.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // Wait's result, set before done closes
}

// startProcess starts bin with args and env, output appended to logPath.
func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child holds its own descriptor; ours writes nothing
	// Not CommandContext: it outlives the test's context (Cleanup runs
	// after it ends), and stop ends it gracefully (SIGTERM first).
	cmd := exec.Command(bin, args...) //nolint:noctx // lifetime is stop's, see above
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns nil while the process runs, else an error saying it exited.
func (p *process) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

// stop sends SIGTERM, waits (at most 15 s), then kills the process group
// (its leftovers, if any).
func (p *process) stop() error {
	if p == nil {
		return nil
	}
	pid := p.cmd.Process.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	var err error
	select {
	case <-p.done:
	case <-time.After(veleroStopTimeout):
		err = fmt.Errorf("%s (pid %d) ignored SIGTERM for %s; killed", p.name, pid, veleroStopTimeout)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(veleroStopTimeout):
		return fmt.Errorf("%s (pid %d) did not exit after kill", p.name, pid)
	}
	return err
}
