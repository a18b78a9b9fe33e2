package cli

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	r := run(t, "--version")
	if r.code != 0 || r.err != "" {
		t.Fatalf("--version: exit %d, stderr %q", r.code, r.err)
	}
	if !strings.HasPrefix(r.out, "safekeep version ") || !strings.Contains(r.out, "commit ") || !strings.Contains(r.out, runtime.Version()) {
		t.Errorf("--version printed %q, want the name, version, commit and Go version", r.out)
	}
}

func TestDisplayName(t *testing.T) {
	for argv0, want := range map[string]string{
		"safekeep":                         "safekeep",
		"/usr/local/bin/safekeep":          "safekeep",
		"/usr/local/bin/kubectl-safekeep":  "kubectl safekeep",
		"kubectl-safekeep":                 "kubectl safekeep",
		"/home/kubectl-tools/bin/safekeep": "safekeep",
	} {
		if got := displayName(argv0); got != want {
			t.Errorf("displayName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// runNamed runs the CLI as Main does when argv0 has that display name.
func runNamed(t *testing.T, name string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := runAs(t.Context(), name, args, Streams{Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

func TestKubectlPlugin(t *testing.T) {
	r := runNamed(t, "kubectl safekeep", "--help")
	if r.code != 0 || !strings.Contains(r.out, "kubectl safekeep [command]") {
		t.Errorf("help as a kubectl plugin: exit %d, usage line missing from:\n%s", r.code, r.out)
	}
	r = runNamed(t, "kubectl safekeep", "--version")
	if r.code != 0 || !strings.HasPrefix(r.out, "kubectl safekeep version ") {
		t.Errorf("--version as a kubectl plugin printed %q", r.out)
	}
}

func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_safekeep",
		"zsh":        "#compdef safekeep",
		"fish":       "complete -c safekeep",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := run(t, "completion", shell)
		if r.code != 0 || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: exit %d, %q not in its script (stderr %q)", shell, r.code, want, r.err)
		}
	}
	// The completion engine itself: verbs complete.
	r := run(t, "__complete", "dri")
	if r.code != 0 || !strings.Contains(r.out, "drill") {
		t.Errorf("__complete dri: exit %d, out %q", r.code, r.out)
	}
	if r := run(t, "--help"); !strings.Contains(r.out, "completion") {
		t.Errorf("--help does not list the completion command:\n%s", r.out)
	}
}
