package backupschedule

import (
	"context"

	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/storage"
)

// sourceStore opens the bucket of the Velero BackupStorageLocation named
// locationName (the default location when empty), as location.Velero.Store
// does.
func (r *Reconciler) sourceStore(ctx context.Context, locationName string) (storage.Store, error) {
	st, _, err := r.locations().Store(ctx, locationName)
	return st, err
}

// locations reads Velero's locations through the uncached reader.
func (r *Reconciler) locations() location.Velero {
	return location.Velero{Reader: r.APIReader, Namespace: r.VeleroNamespace, Credentials: r.VeleroCredentials}
}
