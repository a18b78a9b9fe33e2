package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// run executes cmd and measures it. Wall time is the parent's clock and CPU
// the kernel's rusage of the child. Peak RSS comes from GNU time wrapped
// around the command: Go starts children with vfork, and Linux folds the
// parent's RSS at exec into the child's ru_maxrss, so the test binary's own
// memory would otherwise be counted as the tool's.
func run(tb testing.TB, name string, cmd *exec.Cmd) usage {
	tb.Helper()
	rssFile := filepath.Join(tb.TempDir(), "maxrss")
	cmd.Args = append([]string{timeBin, "-o", rssFile, "-f", "%M"}, cmd.Args...)
	cmd.Path = timeBin
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if os.Getenv("BENCH_SHOW_OUTPUT") != "" {
		tb.Logf("%s output:\n%s", name, out.String())
	}
	if err != nil {
		tb.Fatalf("%s: %v\n%s", name, err, out.String())
	}
	maxrss, err := os.ReadFile(rssFile)
	if err != nil {
		tb.Fatalf("%s: peak RSS: %v", name, err)
	}
	kib, err := strconv.ParseFloat(strings.TrimSpace(string(maxrss)), 64)
	if err != nil {
		tb.Fatalf("%s: peak RSS %q: %v", name, maxrss, err)
	}
	return usage{
		name:  name,
		wall:  wall,
		cpu:   cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssMB: kib / 1024,
	}
}

// timeBin is GNU time (Debian package time), used for peak RSS.
const timeBin = "/usr/bin/time"

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
