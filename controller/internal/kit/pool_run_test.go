package kit

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// startPool runs p until the test ends.
func startPool[R any](t *testing.T, p *Pool[R]) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = p.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for !p.Started() {
		time.Sleep(time.Millisecond)
	}
}

// waitDone waits for key's job to end and returns it.
func waitDone[R any](t *testing.T, p *Pool[R], key types.NamespacedName) *Status[R] {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-p.Wake():
			if ev.Object.GetName() == key.Name && ev.Object.GetNamespace() == key.Namespace {
				return p.Lookup(key)
			}
		case <-timeout:
			t.Fatalf("job of %s did not end", key)
		}
	}
}

func TestPoolPanicIsAFailedResult(t *testing.T) {
	p := NewPool(1, func(err error) bool { return err != nil })
	startPool(t, p)
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	err := p.Submit(key, Job[error]{
		Kind: "seal", ID: "b1", Slot: true,
		Run:    func(context.Context) error { panic("index out of range in a hostile tarball") },
		Failed: func(err error) error { return err },
	})
	if err != nil {
		t.Fatal(err)
	}
	s := waitDone(t, p, key)
	if !s.Done || !errors.Is(s.Result, ErrPanic) || !strings.Contains(s.Result.Error(), "hostile tarball") || s.Failures != 1 {
		t.Fatalf("after a panic: %+v, want a done job whose result wraps ErrPanic, 1 failure", s)
	}
	// The slot is given back: the next job runs.
	p.Take(key, s)
	if err := p.Submit(key, Job[error]{Kind: "seal", ID: "b2", Slot: true, Run: func(context.Context) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if s := waitDone(t, p, key); s.Result != nil || s.Failures != 0 {
		t.Fatalf("job after a panic: %+v", s)
	}
}

func TestPoolFailuresCarryOverAndForgetCancels(t *testing.T) {
	p := NewPool(1, func(err error) bool { return err != nil })
	startPool(t, p)
	key := types.NamespacedName{Namespace: "ns", Name: "a"}
	fail := Job[error]{Kind: "seal", ID: "b1", Slot: true, Run: func(context.Context) error { return errors.New("down") }}
	for want := 1; want <= 2; want++ {
		if err := p.Submit(key, fail); err != nil {
			t.Fatal(err)
		}
		if s := waitDone(t, p, key); s.Failures != want {
			t.Fatalf("failures %d, want %d", s.Failures, want)
		}
	}
	p.SetRetry(key, time.Unix(100, 0))
	if s := p.Lookup(key); !s.RetryAt.Equal(time.Unix(100, 0)) {
		t.Fatalf("retry at %v", s.RetryAt)
	}
	// Another job does not inherit the count.
	other := fail
	other.ID = "b2"
	if err := p.Submit(key, other); err != nil {
		t.Fatal(err)
	}
	if s := waitDone(t, p, key); s.Failures != 1 {
		t.Fatalf("failures of another job %d, want 1", s.Failures)
	}
	// Forget cancels a running job; its end still wakes the object.
	var canceled atomic.Bool
	block := Job[error]{Kind: "run", ID: "r", Run: func(ctx context.Context) error {
		<-ctx.Done()
		canceled.Store(true)
		return ctx.Err()
	}}
	if err := p.Submit(key, block); err != nil {
		t.Fatal(err)
	}
	if !p.Forget(key) {
		t.Fatal("Forget did not see the running job")
	}
	waitDone(t, p, key)
	if !canceled.Load() {
		t.Fatal("the forgotten job's context did not end")
	}
}

func TestPoolSlots(t *testing.T) {
	p := NewPool[error](2, nil)
	startPool(t, p)
	var running, peak atomic.Int32
	release := make(chan struct{})
	job := Job[error]{Kind: "seal", Slot: true, Run: func(context.Context) error {
		n := running.Add(1)
		for {
			if m := peak.Load(); n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return nil
	}}
	for _, name := range []string{"a", "b", "c", "d"} {
		if err := p.Submit(types.NamespacedName{Name: name}, job); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	for range 4 {
		<-p.Wake()
	}
	if peak.Load() != 2 {
		t.Fatalf("peak %d jobs at once, want the 2 slots", peak.Load())
	}
}

func TestPoolNotStarted(t *testing.T) {
	p := NewPool[error](1, nil)
	if err := p.Submit(types.NamespacedName{Name: "a"}, Job[error]{}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("submit before start: %v", err)
	}
}
