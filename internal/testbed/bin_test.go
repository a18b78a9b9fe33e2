package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if got := modulePath(filepath.Join(root, "go.mod")); got != ModulePath {
		t.Fatalf("RepoRoot = %s whose go.mod declares %q", root, got)
	}
	if _, err := os.Stat(filepath.Join(root, "internal", "testbed", "bin.go")); err != nil {
		t.Fatalf("RepoRoot = %s does not hold this package: %v", root, err)
	}
}

func TestModulePath(t *testing.T) {
	for _, tc := range []struct{ name, content, want string }{
		{"plain", "module github.com/safekeep-dev/safekeep\n\ngo 1.26\n", ModulePath},
		{"quoted", "// c\nmodule \"github.com/safekeep-dev/safekeep\"\n", ModulePath},
		{"other", "module example.com/tools\n", "example.com/tools"},
		{"none", "go 1.26\n", ""},
		{"modulefoo", "modulefoo x\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "go.mod")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := modulePath(path); got != tc.want {
				t.Fatalf("modulePath = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBinOverride(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BinEnv, dir)
	if got := Bin(t, "tool"); got != exe {
		t.Fatalf("Bin = %s, want %s", got, exe)
	}
}

func TestBinMissingFails(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends this goroutine the way testing does
		defer close(done)
		Bin(rec, "nope")
	}()
	<-done
	if !strings.Contains(rec.msg, "make tools") || !strings.Contains(rec.msg, "nope") {
		t.Fatalf("Bin of a missing tool: message %q does not say to run make tools", rec.msg)
	}
}

// fatalRecorder records Fatalf instead of failing the real test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
