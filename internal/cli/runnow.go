package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/controller"
)

// askRun reads obj (a BackupSchedule or RestoreDrill named key), lets
// runnable refuse it, and annotates it with controller.AnnotationRunNow, the
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
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, controller.AnnotationRunNow, asked.Format(time.RFC3339))
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
