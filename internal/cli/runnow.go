package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/spf13/cobra"
)

// runFlags are the flags of the verbs that ask the controller for a run
// and wait for it (backup now, drill run).
type runFlags struct {
	namespace   string
	kubeconfig  string
	kubeContext string
	timeout     time.Duration
	poll        time.Duration // how often the run is looked at (tests shorten it)
}

// add registers the flags on cmd; kind names the resource, outcome what is
// waited for.
func (f *runFlags) add(cmd *cobra.Command, kind, outcome string) {
	fl := cmd.Flags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the "+kind+" (default: the kubeconfig context's)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context to use")
	fl.DurationVar(&f.timeout, "timeout", time.Hour, "how long to wait for the "+outcome)
	fl.DurationVar(&f.poll, "poll-interval", time.Second, "how often to look at the run")
	_ = fl.MarkHidden("poll-interval")
}

// client checks the durations and connects to the cluster; it returns the
// namespace to use.
func (f *runFlags) client() (client.Client, string, error) {
	if f.timeout <= 0 || f.poll <= 0 {
		return nil, "", usagef("--timeout and --poll-interval must be positive")
	}
	return kubeClient(f.kubeconfig, f.kubeContext, f.namespace)
}

// runnable refuses a BackupSchedule or RestoreDrill the controller would
// not run: suspended (spec.suspend), or not Ready (its conditions).
func runnable(suspend bool, conditions []metav1.Condition) error {
	if suspend {
		return errors.New("is suspended (spec.suspend): resume it to run it")
	}
	if c := meta.FindStatusCondition(conditions, v1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionFalse {
		return fmt.Errorf("is not Ready (%s): %s", c.Reason, c.Message)
	}
	return nil
}

// askRun reads obj (a BackupSchedule or RestoreDrill named key), lets
// runnable refuse it, and annotates it with v1alpha1.AnnotationRunNow, the
// controller's signal to start a run at once. It returns the time asked
// for, to the second, which names the run. verb prefixes errors; kind
// names the object in them.
func askRun(ctx context.Context, c client.Client, verb, kind string, key types.NamespacedName, obj client.Object, runnable func() error) (time.Time, error) {
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return time.Time{}, fmt.Errorf("%s: %s %s not found", verb, kind, key)
		}
		return time.Time{}, fmt.Errorf("%s: read %s %s: %w", verb, kind, key, err)
	}
	if err := runnable(); err != nil {
		return time.Time{}, fmt.Errorf("%s: %s %s %w", verb, kind, key, err)
	}
	asked := time.Now().UTC().Truncate(time.Second)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, v1alpha1.AnnotationRunNow, asked.Format(time.RFC3339))
	if err := c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return time.Time{}, fmt.Errorf("%s: annotate %s %s: %w", verb, kind, key, err)
	}
	return asked, nil
}

// pollRun calls look every interval until it returns anything but
// errRunPending. When ctx's deadline passes it returns timedOut(): also when
// a read failed because of the deadline, since client-go's rate limiter
// refuses a request that could not finish in time before the deadline has
// passed (the failure a deadline within one interval explains).
func pollRun[T any](ctx context.Context, interval time.Duration, look func(context.Context) (T, error), timedOut func() error) (T, error) {
	var zero T
	ended := func() error {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return timedOut()
		}
		return ctx.Err()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		v, err := look(ctx)
		if errors.Is(err, errRunPending) {
			select {
			case <-ctx.Done():
				return zero, ended()
			case <-t.C:
			}
			continue
		}
		if err != nil && deadlineWithin(ctx, interval) {
			return zero, ended()
		}
		return v, err
	}
}

// deadlineWithin reports whether ctx has ended or its deadline is less than
// d away.
func deadlineWithin(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < d
}
