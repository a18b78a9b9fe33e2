package cli

import (
	"context"
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
