package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// runner lets the demo use the test bed's helpers outside `go test`: it
// satisfies testbed.TB, runs cleanups in reverse on exit, and turns Fatalf
// into the end of the demo goroutine, as testing does.
type runner struct {
	ctx  context.Context
	dir  string
	keep bool // leave the test bed up until interrupted
	mu   sync.Mutex
	n    int
	fail bool
	undo []func()
}

func (r *runner) Helper()                  {}
func (r *runner) Context() context.Context { return r.ctx }
func (r *runner) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "    "+format+"\n", args...)
}

func (r *runner) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.fail = true
	r.mu.Unlock()
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
}

func (r *runner) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fail
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.undo = append(r.undo, f)
}

func (r *runner) TempDir() string {
	r.mu.Lock()
	r.n++
	dir := filepath.Join(r.dir, fmt.Sprintf("tmp%03d", r.n))
	r.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	return dir
}

// cleanup runs the registered cleanups, last first.
func (r *runner) cleanup() {
	r.mu.Lock()
	undo := r.undo
	r.undo = nil
	r.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
}
