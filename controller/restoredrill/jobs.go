package restoredrill

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

const (
	// drillJobRun carries out one run: restore, checks, audit, cleanup.
	drillJobRun = "run"
	// drillJobCleanup deletes what finished runs left (kept namespaces
	// whose time is up, leftovers of interrupted runs) and sweeps
	// anything labelled with the drill that no run in status accounts for.
	drillJobCleanup = "cleanup"
)

// drillJobResult is what a job did.
type drillJobResult struct {
	// run is the finished run (drillJobRun); never nil for a run job.
	run *v1alpha1.DrillRun
	// offsiteBackup names the OffsiteBackup drilled, whose last drill
	// result the reconcile records; empty when none was.
	offsiteBackup string
	// reason, when set, is the LastDrillPassed reason and the Event's in
	// place of runReason's (PolicyViolation: the run was refused).
	reason string
	// cleaned lists the runs whose leftovers are gone.
	cleaned []string
	// cleanupErr is why some leftovers are not gone; retried.
	cleanupErr error
}

// drillJobs runs drill jobs (kit.Pool): at most a fixed number of runs at
// once across drills (cleanups are short and do not take a slot), one job
// per drill. Results live in memory: a run that was in flight when the
// process stopped is found in status.active by the next leader and
// recorded as interrupted. It also remembers which drills' leftovers were
// swept since the process started.
type drillJobs struct {
	*kit.Pool[*drillJobResult]

	mu    sync.Mutex
	swept map[types.NamespacedName]bool
}

func newDrillJobs(concurrent int) *drillJobs {
	return &drillJobs{Pool: kit.NewPool[*drillJobResult](concurrent, nil), swept: map[types.NamespacedName]bool{}}
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

// forget cancels key's running job and drops its state (the drill is
// gone). It reports whether a job was still running.
func (s *drillJobs) forget(key types.NamespacedName) bool {
	s.markSwept(key, false)
	return s.Forget(key)
}
