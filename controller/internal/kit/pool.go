package kit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// ErrNotStarted: a job was submitted before the manager started the pool
// (or after it stopped); the reconcile is retried.
var ErrNotStarted = errors.New("job pool is not running")

// ErrPanic: a job panicked. The pool turns the panic into the job's
// failed result (Job.Failed), never into a crashed controller: jobs parse
// bucket contents and tarballs an attacker may have written.
var ErrPanic = errors.New("job panicked")

// Job is the work of one object done off the reconcile loop: sealing,
// retention, a drill run or a cleanup take as long as the bucket or the
// restore does, and must not hold up other objects' reconciles.
type Job[R any] struct {
	// Kind and ID say what the job is about (a seal of a backup, a run).
	// A finished job of the same Kind and ID carries its failure count
	// over to the next one.
	Kind, ID string
	// Slot makes the job wait for one of the pool's slots; jobs without
	// are short (cleanups) and run at once.
	Slot bool
	// Run does the work; ctx ends when the manager stops or the object is
	// forgotten.
	Run func(ctx context.Context) R
	// Failed is the result of a job that did not run to its end: it
	// panicked (err wraps ErrPanic) or its context ended before it got a
	// slot (err is the context's).
	Failed func(err error) R
}

// Status is a copy of an object's job as the pool holds it.
type Status[R any] struct {
	Kind, ID string
	Done     bool
	Result   R
	// Failures counts failed jobs of this Kind and ID in a row; RetryAt is
	// when a failed one may run again (zero: not set).
	Failures int
	RetryAt  time.Time
}

// Pool runs at most a fixed number of slot jobs at once, one job per
// object, and wakes the object's reconcile when its job ends. Results
// live in memory only: after a restart the reconcile finds no job and
// submits it again (or records the run as interrupted). It is a
// manager.Runnable that runs on the leader only; jobs see their context
// end when the manager stops.
type Pool[R any] struct {
	slots  chan struct{}
	wake   chan event.GenericEvent
	failed func(R) bool

	mu        sync.Mutex
	ctx       context.Context // set by Start; nil before and after
	jobs      map[types.NamespacedName]*Status[R]
	cancels   map[types.NamespacedName]context.CancelFunc
	notBefore map[types.NamespacedName]time.Time
	wg        sync.WaitGroup
}

var (
	_ manager.Runnable               = (*Pool[int])(nil)
	_ manager.LeaderElectionRunnable = (*Pool[int])(nil)
)

// NewPool returns a pool of slots slots (at least one). failed reports
// whether a result counts as a failure (nil: none does).
func NewPool[R any](slots int, failed func(R) bool) *Pool[R] {
	if failed == nil {
		failed = func(R) bool { return false }
	}
	return &Pool[R]{
		slots:     make(chan struct{}, max(slots, 1)),
		wake:      make(chan event.GenericEvent, 1024),
		failed:    failed,
		jobs:      map[types.NamespacedName]*Status[R]{},
		cancels:   map[types.NamespacedName]context.CancelFunc{},
		notBefore: map[types.NamespacedName]time.Time{},
	}
}

// Start lets jobs run until ctx ends, then waits for running jobs to
// return (they see ctx end).
func (p *Pool[R]) Start(ctx context.Context) error {
	p.mu.Lock()
	p.ctx = ctx
	p.mu.Unlock()
	<-ctx.Done()
	p.mu.Lock()
	p.ctx = nil
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// NeedLeaderElection: only the leader writes to buckets and runs drills.
func (p *Pool[R]) NeedLeaderElection() bool { return true }

// Wake yields the objects whose job has ended; a controller watches it
// (source.Channel), a test driving Reconcile by hand may read it.
func (p *Pool[R]) Wake() <-chan event.GenericEvent { return p.wake }

// WakeSource is Wake for source.Channel, which wants the channel itself.
func (p *Pool[R]) WakeSource() chan event.GenericEvent { return p.wake }

// Started reports whether jobs can be submitted.
func (p *Pool[R]) Started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ctx != nil
}

// Lookup returns a copy of key's job, or nil.
func (p *Pool[R]) Lookup(key types.NamespacedName) *Status[R] {
	p.mu.Lock()
	defer p.mu.Unlock()
	j := p.jobs[key]
	if j == nil {
		return nil
	}
	c := *j
	return &c
}

// Submit starts j as key's job unless one is running. A finished job of
// the same Kind and ID carries its failure count over.
func (p *Pool[R]) Submit(key types.NamespacedName, j Job[R]) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil {
		return ErrNotStarted
	}
	prev := p.jobs[key]
	if prev != nil && !prev.Done {
		return nil
	}
	s := &Status[R]{Kind: j.Kind, ID: j.ID}
	if prev != nil && prev.Kind == j.Kind && prev.ID == j.ID {
		s.Failures = prev.Failures
	}
	p.jobs[key] = s
	ctx, cancel := context.WithCancel(p.ctx)
	p.cancels[key] = cancel
	p.wg.Add(1)
	go p.run(p.ctx, ctx, key, s, j)
	return nil
}

// run runs j with ctx, a child of the manager's context mgrCtx that
// Forget cancels, records its result and wakes the object (also when
// canceled: a deleted object's reconcile then cleans up).
func (p *Pool[R]) run(mgrCtx, ctx context.Context, key types.NamespacedName, s *Status[R], j Job[R]) {
	defer p.wg.Done()
	res, ok := p.acquire(ctx, j)
	if ok {
		res = p.protect(ctx, key, j)
		if j.Slot {
			<-p.slots
		}
	}
	p.mu.Lock()
	s.Done, s.Result = true, res
	if p.failed(res) {
		s.Failures++
	} else {
		s.Failures = 0
	}
	cancel := p.cancels[key]
	delete(p.cancels, key)
	p.mu.Unlock()
	obj := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	select {
	case p.wake <- event.GenericEvent{Object: client.Object(obj)}:
	case <-mgrCtx.Done(): // the manager stops
	}
	if cancel != nil {
		cancel()
	}
}

// acquire waits for a slot when j needs one; when ctx ends first, it
// returns j's failed result.
func (p *Pool[R]) acquire(ctx context.Context, j Job[R]) (R, bool) {
	var zero R
	if !j.Slot {
		return zero, true
	}
	select {
	case p.slots <- struct{}{}:
		return zero, true
	case <-ctx.Done():
		return j.Failed(ctx.Err()), false
	}
}

// protect runs j, turning a panic into j's failed result.
func (p *Pool[R]) protect(ctx context.Context, key types.NamespacedName, j Job[R]) (res R) {
	defer func() {
		if v := recover(); v != nil {
			err := fmt.Errorf("%w: %v", ErrPanic, v)
			logf.FromContext(ctx).Error(err, "job panicked", "object", key, "job", j.Kind, "stack", string(debug.Stack()))
			res = j.Failed(err)
		}
	}()
	return j.Run(ctx)
}

// SetRetry records when key's failed job may run again.
func (p *Pool[R]) SetRetry(key types.NamespacedName, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if j := p.jobs[key]; j != nil && j.Done {
		j.RetryAt = at
	}
}

// Take forgets key's finished job if it is still the one given (its
// result has been applied).
func (p *Pool[R]) Take(key types.NamespacedName, s *Status[R]) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.jobs[key]; cur != nil && cur.Done && cur.Kind == s.Kind && cur.ID == s.ID {
		delete(p.jobs, key)
	}
}

// NotBefore is when key's next periodic job (a retention pass, a cleanup)
// may run; zero: any time.
func (p *Pool[R]) NotBefore(key types.NamespacedName) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notBefore[key]
}

// SetNotBefore records when key's next periodic job may run (zero: any
// time).
func (p *Pool[R]) SetNotBefore(key types.NamespacedName, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if at.IsZero() {
		delete(p.notBefore, key)
	} else {
		p.notBefore[key] = at
	}
}

// Forget cancels key's running job and drops what the pool holds of key
// (the object is gone). It reports whether a job was still running; its
// end wakes the object once more.
func (p *Pool[R]) Forget(key types.NamespacedName) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	running := false
	if cancel := p.cancels[key]; cancel != nil {
		cancel()
		running = true
	}
	if j := p.jobs[key]; j != nil && j.Done {
		delete(p.jobs, key)
	}
	delete(p.notBefore, key)
	return running
}

// RetryDelay is the wait before attempt n+1 after n failures in a row:
// 15 s doubling up to 10 min.
func RetryDelay(failures int) time.Duration {
	d := 15 * time.Second
	for i := 1; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
