package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// captureStdout points stdout at a buffer for the test.
func captureStdout(t *testing.T) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	old := stdout
	stdout = &b
	t.Cleanup(func() { stdout = old })
	return &b
}

func TestVersion(t *testing.T) {
	out := captureStdout(t)
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"--version"}, &stderr); code != exitOK {
		t.Fatalf("--version: exit %d, stderr %q", code, stderr.String())
	}
	if s := out.String(); !strings.HasPrefix(s, "safekeep-controller version ") || !strings.Contains(s, "commit ") || !strings.Contains(s, runtime.Version()) {
		t.Errorf("--version printed %q, want the name, version, commit and Go version", s)
	}
}

func TestSelfcheck(t *testing.T) {
	out := captureStdout(t)
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"--selfcheck", "../../internal/selfcheck/testdata/public-chain.pem"}, &stderr); code != exitOK {
		t.Fatalf("--selfcheck: exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(out.String(), "certificate chain of www.google.com: ok") {
		t.Errorf("--selfcheck printed %q", out.String())
	}
	stderr.Reset()
	if code := run(t.Context(), []string{"--selfcheck", "main.go"}, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "no PEM certificate") {
		t.Errorf("--selfcheck of a non-PEM file: exit %d, stderr %q", code, stderr.String())
	}
}
