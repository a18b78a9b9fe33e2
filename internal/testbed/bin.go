// Package testbed starts the real parts of Safekeep's test bed (VersityGW,
// envtest, Velero) on loopback for tests, and finds the binaries that
// tools/build.sh builds into bin/.
//
// Every helper takes a testing.TB, fails the test (never skips) when a part is
// missing, registers its own cleanup, and bounds every wait. The one
// exception is `go test -short` (make unit): a test that needs a part of the
// test bed is skipped there, so that the tests of pure logic run in seconds;
// make test runs everything.
package testbed

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ModulePath is the Go module whose root RepoRoot looks for.
const ModulePath = "github.com/safekeep-dev/safekeep"

// BinEnv names the environment variable that overrides the folder Bin looks in.
const BinEnv = "SAFEKEEP_BIN"

// RepoRoot returns the repository root: the nearest folder, walking up from
// the working directory, whose go.mod declares module ModulePath.
func RepoRoot(tb TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatalf("testbed: working directory: %v", err)
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == ModulePath {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatalf("testbed: no go.mod of module %s above the working directory", ModulePath)
		}
		dir = parent
	}
}

// modulePath returns the module path declared in the go.mod file at path, or
// "" when the file is missing or declares none.
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// BinDir returns the folder holding the test-bed binaries: $SAFEKEEP_BIN when
// set, else bin/ under RepoRoot.
func BinDir(tb TB) string {
	tb.Helper()
	if dir := os.Getenv(BinEnv); dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			tb.Fatalf("testbed: %s=%q: %v", BinEnv, dir, err)
		}
		return abs
	}
	return filepath.Join(RepoRoot(tb), "bin")
}

// Bin returns the path of the executable name in BinDir. A missing binary
// fails the test with a message telling to run `make tools`.
func Bin(tb TB, name string) string {
	tb.Helper()
	path := filepath.Join(BinDir(tb), name)
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		tb.Fatalf("testbed: %s is missing (looked for %s): run `make tools` (or tools/build.sh %s) to build the test bed", name, path, name)
	}
	return path
}

// skipShort skips a test that needs the test bed under go test -short.
func skipShort(tb TB) {
	s, ok := tb.(interface{ Skip(args ...any) })
	if ok && testing.Testing() && testing.Short() {
		s.Skip("testbed: needs the real test bed; skipped by -short (make unit), run by make test")
	}
}
