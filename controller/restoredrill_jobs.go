package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// drillJobKind says what a drill job does.
type drillJobKind string

const (
	// drillJobRun carries out one run: restore, checks, audit, cleanup.
	drillJobRun drillJobKind = "run"
	// drillJobCleanup deletes what finished runs left (kept namespaces
	// whose time is up, leftovers of interrupted runs) and sweeps
	// anything labelled with the drill that no run in status accounts for.
	drillJobCleanup drillJobKind = "cleanup"
)

// drillJob is the work of one drill done off the reconcile loop.
type drillJob struct {
	kind drillJobKind
	run  string // the run's ID (drillJobRun)
	done bool
	res  *drillJobResult
}

// drillJobResult is what a job did.
type drillJobResult struct {
	// run is the finished run (drillJobRun); never nil for a run job.
	run *v1alpha1.DrillRun
	// offsiteBackup names the OffsiteBackup drilled, whose last drill
	// result the reconcile records; empty when none was.
	offsiteBackup string
	// cleaned lists the runs whose leftovers are gone.
	cleaned []string
	// cleanupErr is why some leftovers are not gone; retried.
	cleanupErr error
}

// drillJobs runs drill jobs, at most a fixed number of runs at once across
// drills (cleanups are short and do not take a slot), one job per drill,
// and wakes the drill's reconcile when its job ends. Results live in
// memory: a run that was in flight when the process stopped is found in
// status.active by the next leader and recorded as interrupted. It is a
// manager.Runnable that runs on the leader only.
type drillJobs struct {
	slots chan struct{}
	wake  chan event.TypedGenericEvent[*v1alpha1.RestoreDrill]
	mu    sync.Mutex
	ctx   context.Context // set by Start; nil before and after
	jobs  map[types.NamespacedName]*drillJob
	// cancels ends the context of a drill's running job (the drill was
	// deleted).
	cancels map[types.NamespacedName]context.CancelFunc
	// swept records the drills whose leftovers were swept since start.
	swept map[types.NamespacedName]bool
	// retryAt is when a drill's failed cleanup may be tried again.
	retryAt map[types.NamespacedName]time.Time
	wg      sync.WaitGroup
}

var (
	_ manager.Runnable               = (*drillJobs)(nil)
	_ manager.LeaderElectionRunnable = (*drillJobs)(nil)
)

func newDrillJobs(concurrent int) *drillJobs {
	return &drillJobs{
		slots:   make(chan struct{}, max(concurrent, 1)),
		wake:    make(chan event.TypedGenericEvent[*v1alpha1.RestoreDrill], 1024),
		jobs:    map[types.NamespacedName]*drillJob{},
		cancels: map[types.NamespacedName]context.CancelFunc{},
		swept:   map[types.NamespacedName]bool{},
		retryAt: map[types.NamespacedName]time.Time{},
	}
}

// Start lets jobs run until ctx ends, then waits for running jobs to
// return (they see ctx end).
func (s *drillJobs) Start(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.ctx = nil
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// NeedLeaderElection: only the leader runs drills.
func (s *drillJobs) NeedLeaderElection() bool { return true }

// started reports whether jobs can be submitted.
func (s *drillJobs) started() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx != nil
}

// lookup returns a copy of key's job, or nil.
func (s *drillJobs) lookup(key types.NamespacedName) *drillJob {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[key]
	if j == nil {
		return nil
	}
	c := *j
	return &c
}

// submit starts fn as key's job unless one is running or finished and not
// yet taken. fn gets a context that ends when the manager stops or the
// drill is forgotten.
func (s *drillJobs) submit(key types.NamespacedName, kind drillJobKind, run string, fn func(context.Context) *drillJobResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return errJobsNotStarted
	}
	if s.jobs[key] != nil {
		return nil
	}
	j := &drillJob{kind: kind, run: run}
	s.jobs[key] = j
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancels[key] = cancel
	s.wg.Add(1)
	go s.do(s.ctx, ctx, key, j, fn)
	return nil
}

// do runs fn with ctx, a child of the manager's context mgrCtx that
// forget cancels, and wakes the drill when it ends (also when canceled:
// a deleted drill's reconcile then sweeps what its run left).
func (s *drillJobs) do(mgrCtx, ctx context.Context, key types.NamespacedName, j *drillJob, fn func(context.Context) *drillJobResult) {
	defer s.wg.Done()
	if j.kind == drillJobRun {
		select {
		case s.slots <- struct{}{}:
			defer func() { <-s.slots }()
		case <-ctx.Done():
		}
	}
	res := fn(ctx) // sees ctx ended, when it has, and says so in its result
	s.mu.Lock()
	j.done, j.res = true, res
	cancel := s.cancels[key]
	delete(s.cancels, key)
	s.mu.Unlock()
	ev := event.TypedGenericEvent[*v1alpha1.RestoreDrill]{Object: &v1alpha1.RestoreDrill{}}
	ev.Object.Namespace, ev.Object.Name = key.Namespace, key.Name
	select {
	case s.wake <- ev:
	case <-mgrCtx.Done(): // the manager stops
	default: // nobody listens (a test driving Reconcile by hand)
	}
	if cancel != nil {
		cancel()
	}
}

// take forgets key's finished job if it is still the one given (its result
// has been applied).
func (s *drillJobs) take(key types.NamespacedName, j *drillJob) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.jobs[key]; cur != nil && cur.done && cur.kind == j.kind && cur.run == j.run {
		delete(s.jobs, key)
	}
}

// wasSwept reports whether key's leftovers were swept since start.
func (s *drillJobs) wasSwept(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swept[key]
}

// markSwept records that key's leftovers are swept, or (false) asks for
// another sweep.
func (s *drillJobs) markSwept(key types.NamespacedName, swept bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if swept {
		s.swept[key] = true
	} else {
		delete(s.swept, key)
	}
}

// unsweep asks for another sweep of key.
func (s *drillJobs) unsweep(key types.NamespacedName) { s.markSwept(key, false) }

// cleanupRetryAt is when key's failed cleanup may run again (zero: any
// time).
func (s *drillJobs) cleanupRetryAt(key types.NamespacedName) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retryAt[key]
}

// setCleanupRetry records when key's failed cleanup may run again.
func (s *drillJobs) setCleanupRetry(key types.NamespacedName, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.IsZero() {
		delete(s.retryAt, key)
	} else {
		s.retryAt[key] = at
	}
}

// forget cancels key's running job and drops its state (the drill is
// gone). It reports whether a job was still running.
func (s *drillJobs) forget(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	running := false
	if cancel := s.cancels[key]; cancel != nil {
		cancel()
		running = true
	}
	if j := s.jobs[key]; j != nil && j.done {
		delete(s.jobs, key)
	}
	delete(s.swept, key)
	delete(s.retryAt, key)
	return running
}
