package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cliBuildTimeout bounds the build of the safekeep CLI (cold cache, -race).
const cliBuildTimeout = 10 * time.Minute

// cliBuild is the safekeep CLI that TestMain builds while the first test
// starts the test bed.
var cliBuild struct {
	path   string
	done   chan struct{} // closed when the build has ended
	err    error
	output []byte
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() { // make unit: every test here needs the test bed and skips; build nothing
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "safekeep-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliBuildTimeout)
	buildCLI(ctx, filepath.Join(dir, "safekeep"))
	code := m.Run()
	cancel() // a build nobody waited for is not needed any more
	<-cliBuild.done
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: remove temporary directory:", err)
	}
	os.Exit(code)
}

// buildCLI starts `go build ./cmd/safekeep` in the background, with the race
// detector when the tests run with it.
func buildCLI(ctx context.Context, out string) {
	cliBuild.path, cliBuild.done = out, make(chan struct{})
	go func() {
		defer close(cliBuild.done)
		root, err := moduleRoot(ctx)
		if err != nil {
			cliBuild.err = err
			return
		}
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/safekeep")...)
		cmd.Dir = root
		cliBuild.output, cliBuild.err = cmd.CombinedOutput()
	}()
}

// moduleRoot is the folder of the go.mod the tests are built from.
func moduleRoot(ctx context.Context) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go env GOMOD: %w: %s", err, stderr.Bytes())
	}
	gomod := strings.TrimSpace(stdout.String())
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}

// safekeepBin waits for the CLI build and returns the binary's path.
func safekeepBin(tb testing.TB) string {
	tb.Helper()
	if cliBuild.done == nil {
		tb.Skip("e2e: the safekeep CLI is not built under -short (make unit); make test runs this")
	}
	start := time.Now()
	<-cliBuild.done // bounded by cliBuildTimeout
	if cliBuild.err != nil {
		tb.Fatalf("build safekeep CLI: %v\n%s", cliBuild.err, cliBuild.output)
	}
	if d := time.Since(start); d > time.Second {
		tb.Logf("waited %s for the safekeep CLI build", d.Round(time.Millisecond))
	}
	return cliBuild.path
}
