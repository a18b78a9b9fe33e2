package offsitetarget_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	// targetWaitTimeout bounds every wait for the controller to act.
	targetWaitTimeout = 45 * time.Second
	// targetPollInterval is how often waits look.
	targetPollInterval = 100 * time.Millisecond
)

// managerEnv is a control plane with the CRDs and a manager running the
// reconcilers in-process.
type managerEnv struct {
	cp    *testbed.ControlPlane
	c     client.Client
	opts  controller.Options
	clock *clocktesting.FakeClock
}

// startManagerEnv starts envtest with deploy/crd and a manager running controller.Setup(o),
// stopped when the test ends. o.Clock is a fake clock when nil.
func startManagerEnv(t *testing.T, o controller.Options) *managerEnv {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(managerLogWriter{t})))
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(testbed.RepoRoot(t), "deploy", "crd")))
	fake := clocktesting.NewFakeClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	if o.Clock == nil {
		o.Clock = fake
	}
	o.SkipNameValidation = true
	if o.Namespace != "" {
		createTargetNamespace(t, cp.Client, o.Namespace)
	}
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{
		Scheme:                 cp.Scheme,
		Cache:                  controller.CacheOptions(o),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.Setup(mgr, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return &managerEnv{cp: cp, c: cp.Client, opts: o, clock: fake}
}

// managerLogWriter sends the manager's logs to the test log while it runs.
type managerLogWriter struct{ t *testing.T }

var managerLogMu sync.Mutex

func (w managerLogWriter) Write(p []byte) (int, error) {
	managerLogMu.Lock()
	defer managerLogMu.Unlock()
	if !testing.Verbose() {
		return len(p), nil
	}
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func createTargetNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// waitReady waits until the target's Ready condition describes its current
// generation with the given reason, and returns the target.
func (e *managerEnv) waitReady(t *testing.T, key client.ObjectKey, reason string) *v1alpha1.OffsiteTarget {
	t.Helper()
	var (
		obj  v1alpha1.OffsiteTarget
		last string
	)
	deadline := time.Now().Add(targetWaitTimeout)
	for {
		err := e.c.Get(t.Context(), key, &obj)
		if err == nil {
			c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
			if c != nil {
				last = string(c.Status) + " " + c.Reason + ": " + c.Message
				if c.Reason == reason && c.ObservedGeneration == obj.Generation && obj.Status.ObservedGeneration == obj.Generation {
					return &obj
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: Ready reason not %s within %s; last: %s (get: %v)", key, reason, targetWaitTimeout, last, err)
		}
		time.Sleep(targetPollInterval)
	}
}

// targetEvents returns the Events written about the named object.
func (e *managerEnv) targetEvents(t *testing.T, key client.ObjectKey) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := e.c.List(t.Context(), &list, client.InNamespace(key.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Name == key.Name && ev.Regarding.Kind == "OffsiteTarget" {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvent waits for an Event about key with reason and returns it.
func (e *managerEnv) waitEvent(t *testing.T, key client.ObjectKey, reason string) eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(targetWaitTimeout)
	for {
		for _, ev := range e.targetEvents(t, key) {
			if ev.Reason == reason {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no Event with reason %s within %s", key, reason, targetWaitTimeout)
		}
		time.Sleep(targetPollInterval)
	}
}

// gatherMetric returns the value of the gauge or counter family with the
// given labels, and whether it exists.
func gatherMetric(t *testing.T, family string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
		for _, m := range f.GetMetric() {
			if metricHasLabels(m, labels) {
				if g := m.GetGauge(); g != nil {
					return g.GetValue(), true
				}
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func metricHasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
