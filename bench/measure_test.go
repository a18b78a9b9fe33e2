package bench

import (
	"bytes"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// usage is what one child process cost.
type usage struct {
	name  string
	wall  time.Duration
	cpu   time.Duration // user + system
	rssMB float64       // peak resident set size, MiB
}

// run executes cmd and measures it from the kernel's rusage of the child.
func run(tb testing.TB, name string, cmd *exec.Cmd) usage {
	tb.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		tb.Fatalf("%s: no rusage", name)
	}
	return usage{
		name:  name,
		wall:  wall,
		cpu:   cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssMB: float64(ru.Maxrss) / 1024, // Linux reports KiB
	}
}

func (u usage) String() string {
	return fmt.Sprintf("%-28s wall %7.2fs  cpu %7.2fs  peak RSS %7.1f MiB", u.name, u.wall.Seconds(), u.cpu.Seconds(), u.rssMB)
}

// verdict formats a ratio against its target.
func verdict(what string, got, target float64) string {
	mark := "met"
	if got > target {
		mark = "MISSED"
	}
	return fmt.Sprintf("%-36s %6.2f (target <= %.2f) %s", what, got, target, mark)
}
