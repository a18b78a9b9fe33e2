package backupschedule

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kittest"
)

// scheduleEnv is kittest's control plane with the helpers of the
// BackupSchedule tests. Tests drive Reconcile by hand: no manager, every
// read goes to the API server.
type scheduleEnv struct{ *kittest.Env }

func newScheduleEnv(t *testing.T, start time.Time) *scheduleEnv {
	return &scheduleEnv{kittest.NewEnv(t, start)}
}

// reconciler returns a new reconciler (as after a controller restart).
func (e *scheduleEnv) reconciler(opts Options) *Reconciler {
	opts.Clock = e.Clock
	if opts.VeleroNamespace == "" {
		opts.VeleroNamespace = kittest.VeleroNS
	}
	return New(e.CP.Client, e.CP.Client, e.CP.Scheme, e.Rec, opts)
}

// reconcile runs one reconcile of s and fails the test on an error.
func (e *scheduleEnv) reconcile(t *testing.T, r *Reconciler, s *v1alpha1.BackupSchedule) ctrl.Result {
	t.Helper()
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)})
	if err != nil {
		t.Fatalf("reconcile %s: %v", s.Name, err)
	}
	return res
}

// reconcileLogged runs one reconcile of s, as reconcile does, and returns
// the lines it logged (debug lines included).
func (e *scheduleEnv) reconcileLogged(t *testing.T, r *Reconciler, s *v1alpha1.BackupSchedule) []string {
	t.Helper()
	var (
		mu    sync.Mutex
		lines []string
	)
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 1})
	if _, err := r.Reconcile(logf.IntoContext(t.Context(), log), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(s)}); err != nil {
		t.Fatalf("reconcile %s: %v", s.Name, err)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(lines)
}

// get reads s afresh.
func (e *scheduleEnv) get(t *testing.T, s *v1alpha1.BackupSchedule) *v1alpha1.BackupSchedule {
	t.Helper()
	out := &v1alpha1.BackupSchedule{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKeyFromObject(s), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// backups lists the Velero Backups of s.
func (e *scheduleEnv) backups(t *testing.T, s *v1alpha1.BackupSchedule) []velerov1.Backup {
	t.Helper()
	var list velerov1.BackupList
	err := e.CP.Client.List(t.Context(), &list, client.InNamespace(kittest.VeleroNS),
		client.MatchingLabels{v1alpha1.LabelSchedule: v1alpha1.ScheduleLabelValue(s.Namespace, s.Name)})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// setPhase sets a Velero Backup's status.phase, as the Velero server would
// (Backup has no status subresource: a plain update).
func (e *scheduleEnv) setPhase(t *testing.T, name string, phase velerov1.BackupPhase, mutate func(*velerov1.BackupStatus)) {
	t.Helper()
	b := &velerov1.Backup{}
	if err := e.CP.Client.Get(t.Context(), client.ObjectKey{Namespace: kittest.VeleroNS, Name: name}, b); err != nil {
		t.Fatal(err)
	}
	b.Status.Phase = phase
	if mutate != nil {
		mutate(&b.Status)
	}
	if err := e.CP.Client.Update(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

// condition returns s's condition of condType, failing the test when absent.
func condition(t *testing.T, s *v1alpha1.BackupSchedule, condType string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(s.Status.Conditions, condType)
	if c == nil {
		t.Fatalf("%s has no %s condition; conditions: %+v", s.Name, condType, s.Status.Conditions)
	}
	return *c
}

// wantCondition checks a condition's status and reason, and that its
// message holds each of words.
func wantCondition(t *testing.T, s *v1alpha1.BackupSchedule, condType string, status metav1.ConditionStatus, reason string, words ...string) {
	t.Helper()
	c := condition(t, s, condType)
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s %s = %s/%s (%q), want %s/%s", s.Name, condType, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, w := range words {
		if !strings.Contains(c.Message, w) {
			t.Errorf("%s %s message %q lacks %q", s.Name, condType, c.Message, w)
		}
	}
}

// at parses an RFC 3339 time.
func at(t *testing.T, v string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// waitWake waits (at most 2 minutes) for r's job on s to end.
func waitWake(t *testing.T, r *Reconciler, s *v1alpha1.BackupSchedule) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case ev := <-r.Wakeups():
			if ev.Object.GetName() == s.Name && ev.Object.GetNamespace() == s.Namespace {
				return
			}
		case <-timeout:
			t.Fatalf("the job of %s did not end within 2 minutes", s.Name)
		case <-t.Context().Done():
			t.Fatal(errors.New("test context ended"))
		}
	}
}
