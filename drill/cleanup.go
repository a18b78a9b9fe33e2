package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// restoreReleaseTimeout bounds the wait for Velero to remove its finalizer
// from a deleted Restore (it deletes the Restore's files then).
const restoreReleaseTimeout = 30 * time.Second

// restoreEndTimeout bounds the wait for a Restore Velero is running to end
// before anything of its run is deleted.
const restoreEndTimeout = time.Minute

// ErrRestoreRunning: a run's Velero Restore is still running, so nothing
// of the run is deleted yet; a later cleanup deletes it.
var ErrRestoreRunning = errors.New("velero restore still running")

func cleanup(ctx context.Context, o CleanupOptions) error {
	if o.Client == nil {
		return fmt.Errorf("%w: Client required", ErrInvalidOptions)
	}
	if o.VeleroNamespace == "" {
		o.VeleroNamespace = DefaultVeleroNamespace
	}
	if o.Restore != "" {
		// Velero goes on with a Restore it runs even once the Restore is
		// deleted, waits for a deleted scratch namespace to go, then
		// creates it again (without the drill's labels) and restores the
		// rest into it, and uploads the Restore's logs after the staging
		// location was purged.
		if err := waitRestoreEnded(ctx, o.Client, o.VeleroNamespace, o.Restore); err != nil {
			return err
		}
	}
	var errs []error
	if o.Restore != "" {
		// Before the namespaces: a Restore Velero has not started yet
		// never starts once deleted.
		errs = append(errs, deleteRestore(ctx, o.Client, o.VeleroNamespace, o.Restore))
		if o.Staging != nil {
			errs = append(errs, deletePrefix(ctx, o.Staging, "restores/"+o.Restore+"/", ""))
		}
	}
	if len(o.Labels) > 0 {
		errs = append(errs, deleteNamespaces(ctx, o.Client, o.Labels))
	}
	if o.Modifiers != "" {
		errs = append(errs, deleteStaged(ctx, o.Client, &corev1.ConfigMap{}, o.VeleroNamespace, o.Modifiers))
	}
	if o.StagedName != "" {
		if o.Volumes {
			errs = append(errs, cleanupVolumes(ctx, o.Client, o.VeleroNamespace, o.StagedName, o.Staging))
		}
		if o.Staging != nil {
			// velero-backup.json first: without it Velero's sync ignores
			// what is left.
			prefix := "backups/" + o.StagedName + "/"
			if err := deletePrefix(ctx, o.Staging, prefix, prefix+seal.VeleroBackupJSON); err != nil {
				errs = append(errs, err)
				// Keep the Backup object: deleting it now would let the
				// sync recreate it from what is left.
				return errors.Join(errs...)
			}
		}
		errs = append(errs, deleteStaged(ctx, o.Client, &velerov1.Backup{}, o.VeleroNamespace, o.StagedName))
	}
	return errors.Join(errs...)
}

// deleteNamespaces deletes every namespace carrying labels and LabelScratch.
func deleteNamespaces(ctx context.Context, c client.Client, labels map[string]string) error {
	sel := client.MatchingLabels{LabelScratch: "true"}
	for k, v := range labels {
		sel[k] = v
	}
	var list corev1.NamespaceList
	if err := c.List(ctx, &list, sel); err != nil {
		return fmt.Errorf("list scratch namespaces: %w", err)
	}
	var errs []error
	for i := range list.Items {
		ns := &list.Items[i]
		if ns.DeletionTimestamp != nil {
			continue
		}
		if err := c.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
		}
	}
	return errors.Join(errs...)
}

// deleteRestore deletes the Restore and waits, bounded, until Velero has
// released it (its finalizer deletes the Restore's files in the bucket).
func deleteRestore(ctx context.Context, c client.Client, ns, name string) error {
	rs := &velerov1.Restore{}
	if err := deleteStaged(ctx, c, rs, ns, name); err != nil {
		return err
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	err := wait.PollUntilContextTimeout(ctx, pollInterval, restoreReleaseTimeout, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, key, rs)
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("restore %s is still there %s after its deletion (Velero removes its finalizer): %w", key, restoreReleaseTimeout, err)
	}
	return nil
}

// waitRestoreEnded waits, bounded, until Velero no longer runs Restore
// ns/name: it is gone, not started, or in a final phase. Else it returns
// an error wrapping ErrRestoreRunning.
func waitRestoreEnded(ctx context.Context, c client.Client, ns, name string) error {
	key := client.ObjectKey{Namespace: ns, Name: name}
	phase := velerov1.RestorePhase("")
	err := wait.PollUntilContextTimeout(ctx, pollInterval, restoreEndTimeout, true, func(ctx context.Context) (bool, error) {
		rs := &velerov1.Restore{}
		if err := c.Get(ctx, key, rs); apierrors.IsNotFound(err) {
			return true, nil
		} else if err != nil {
			return false, fmt.Errorf("read restore %s: %w", key, err)
		}
		phase = rs.Status.Phase
		return !restoreRunning(phase), nil
	})
	if err != nil {
		return fmt.Errorf("%w: restore %s is %s; nothing of its run is deleted before it ends: %w", ErrRestoreRunning, key, phase, err)
	}
	return nil
}

// restoreRunning says whether Velero is working on a Restore in phase p.
// New (not started) is not: deleted first (cleanup), it never starts.
func restoreRunning(p velerov1.RestorePhase) bool {
	switch p {
	case velerov1.RestorePhaseInProgress, velerov1.RestorePhaseWaitingForPluginOperations,
		velerov1.RestorePhaseWaitingForPluginOperationsPartiallyFailed,
		velerov1.RestorePhaseFinalizing, velerov1.RestorePhaseFinalizingPartiallyFailed:
		return true
	}
	return false
}

// deleteStaged deletes Velero object ns/name if it carries LabelStaged.
func deleteStaged(ctx context.Context, c client.Client, obj client.Object, ns, name string) error {
	kind := kindOf(obj)
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read %s %s/%s: %w", kind, ns, name, err)
	case obj.GetLabels()[LabelStaged] != "true":
		return fmt.Errorf("%s %s/%s is not a drill's (no %s label): left alone", kind, ns, name, LabelStaged)
	case obj.GetDeletionTimestamp() != nil:
		return nil
	}
	if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s %s/%s: %w", kind, ns, name, err)
	}
	return nil
}

// deletePrefix deletes every object under prefix, first (when set) first.
// Each goes by version ID (storage.Purge): the staged copy is plaintext,
// and on a versioned staging bucket a plain delete would keep it as a
// version under a marker.
func deletePrefix(ctx context.Context, st storage.Store, prefix, first string) error {
	if first != "" {
		if _, err := storage.PurgeKey(ctx, st, first); err != nil {
			return fmt.Errorf("delete %s from the staging location: %w", first, err)
		}
	}
	if _, err := storage.Purge(ctx, st, prefix); err != nil {
		return fmt.Errorf("delete %s from the staging location: %w", prefix, err)
	}
	return nil
}
