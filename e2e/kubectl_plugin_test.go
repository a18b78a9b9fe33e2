package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestKubectlPlugin installs the CLI as kubectl-safekeep on PATH and runs
// it through the real kubectl: kubectl finds it, and it names itself
// "kubectl safekeep" in its version and help.
func TestKubectlPlugin(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(safekeepBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl-safekeep"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), testbed.Bin(t, "kubectl"), args...)
		cmd.Env = testbed.ChildEnv("PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := kubectl("plugin", "list"); !strings.Contains(out, filepath.Join(dir, "kubectl-safekeep")) {
		t.Errorf("kubectl plugin list does not show the plugin:\n%s", out)
	}
	if out := kubectl("safekeep", "--version"); !strings.HasPrefix(out, "kubectl safekeep version ") {
		t.Errorf("kubectl safekeep --version: %q", out)
	}
	if out := kubectl("safekeep", "--help"); !strings.Contains(out, "kubectl safekeep [command]") {
		t.Errorf("kubectl safekeep --help lacks its usage line:\n%s", out)
	}
}
