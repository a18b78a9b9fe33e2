package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// errJobsNotStarted: a job was submitted before the manager started the
// runner (or after it stopped); the reconcile is retried.
var errJobsNotStarted = errors.New("seal workers are not running")

// jobKind says what a job does in the offsite bucket.
type jobKind string

const (
	// jobSeal seals one Velero backup, then applies retention.
	jobSeal jobKind = "seal"
	// jobRetention applies retention only.
	jobRetention jobKind = "retention"
)

// job is the bucket work of one schedule, done off the reconcile loop:
// sealing takes as long as the backup is big, and must not hold up the
// creation of other schedules' Velero Backups.
type job struct {
	kind   jobKind
	backup string // the Velero backup sealed (jobSeal)
	done   bool
	result *jobResult
	// attempts counts failed seals of backup in a row; retryAt is when a
	// failed seal may be tried again.
	attempts int
	retryAt  time.Time
}

// sealJobs runs at most a fixed number of jobs at once, one per schedule,
// and wakes the schedule's reconcile when its job ends. Results live in
// memory only: after a restart the reconcile submits the job again, and
// sealing and retention are idempotent, so nothing is done twice in the
// bucket. It is a manager.Runnable that runs on the leader only; jobs stop
// (their context ends) when the manager stops.
type sealJobs struct {
	slots chan struct{}
	wake  chan event.TypedGenericEvent[*v1alpha1.BackupSchedule]
	mu    sync.Mutex
	ctx   context.Context // set by Start; nil before
	jobs  map[types.NamespacedName]*job
	// passAt is when a schedule's next retention pass may run.
	passAt map[types.NamespacedName]time.Time
	inStep sync.WaitGroup
}

var (
	_ manager.Runnable               = (*sealJobs)(nil)
	_ manager.LeaderElectionRunnable = (*sealJobs)(nil)
)

func newSealJobs(concurrent int) *sealJobs {
	return &sealJobs{
		slots:  make(chan struct{}, max(concurrent, 1)),
		wake:   make(chan event.TypedGenericEvent[*v1alpha1.BackupSchedule], 1024),
		jobs:   map[types.NamespacedName]*job{},
		passAt: map[types.NamespacedName]time.Time{},
	}
}

// Start lets jobs run until ctx ends, then waits for running jobs to
// return (they see ctx end).
func (s *sealJobs) Start(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.ctx = nil
	s.mu.Unlock()
	s.inStep.Wait()
	return nil
}

// NeedLeaderElection: only the leader writes to buckets.
func (s *sealJobs) NeedLeaderElection() bool { return true }

// lookup returns a copy of key's job, or nil.
func (s *sealJobs) lookup(key types.NamespacedName) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[key]
	if j == nil {
		return nil
	}
	c := *j
	return &c
}

// submit starts fn as key's job unless one is running. A finished job of
// the same kind and backup carries its failure count over. fn gets a
// context that ends when the manager stops.
func (s *sealJobs) submit(key types.NamespacedName, kind jobKind, backup string, fn func(context.Context) *jobResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return errJobsNotStarted
	}
	prev := s.jobs[key]
	if prev != nil && !prev.done {
		return nil
	}
	j := &job{kind: kind, backup: backup}
	if prev != nil && prev.kind == kind && prev.backup == backup {
		j.attempts = prev.attempts
	}
	s.jobs[key] = j
	ctx := s.ctx
	s.inStep.Add(1)
	go s.run(ctx, key, j, fn)
	return nil
}

func (s *sealJobs) run(ctx context.Context, key types.NamespacedName, j *job, fn func(context.Context) *jobResult) {
	defer s.inStep.Done()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		s.finish(key, j, &jobResult{err: ctx.Err()})
		return
	}
	res := fn(ctx)
	<-s.slots
	s.finish(key, j, res)
	ev := event.TypedGenericEvent[*v1alpha1.BackupSchedule]{Object: &v1alpha1.BackupSchedule{}}
	ev.Object.Namespace, ev.Object.Name = key.Namespace, key.Name
	select {
	case s.wake <- ev:
	case <-ctx.Done():
	}
}

func (s *sealJobs) finish(key types.NamespacedName, j *job, res *jobResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.done, j.result = true, res
	if res.err != nil {
		j.attempts++
	} else {
		j.attempts = 0
	}
}

// setRetry records when key's failed job may run again.
func (s *sealJobs) setRetry(key types.NamespacedName, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[key]; j != nil && j.done {
		j.retryAt = at
	}
}

// take forgets key's finished job if it is still the one given (its result
// has been applied).
func (s *sealJobs) take(key types.NamespacedName, j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.jobs[key]; cur != nil && cur.done && cur.kind == j.kind && cur.backup == j.backup {
		delete(s.jobs, key)
	}
}

// notBefore is when key's next retention pass may run (zero: any time).
func (s *sealJobs) notBefore(key types.NamespacedName) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.passAt[key]
}

// setNotBefore records when key's next retention pass may run.
func (s *sealJobs) setNotBefore(key types.NamespacedName, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.IsZero() {
		delete(s.passAt, key)
	} else {
		s.passAt[key] = at
	}
}

// forget drops key's finished job (the schedule is gone). A running job
// ends on its own and its result is then dropped by take or overwritten.
func (s *sealJobs) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[key]; j != nil && j.done {
		delete(s.jobs, key)
	}
	delete(s.passAt, key)
}

// retryDelay is the wait before attempt n+1 after n failures in a row:
// 15 s doubling up to 10 min.
func retryDelay(failures int) time.Duration {
	d := 15 * time.Second
	for i := 1; i < failures && d < 10*time.Minute; i++ {
		d *= 2
	}
	return min(d, 10*time.Minute)
}
