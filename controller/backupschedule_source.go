package controller

import (
	"context"

	"github.com/safekeep-dev/safekeep/storage"
)

// sourceStore opens the bucket of the Velero BackupStorageLocation named
// locationName (the default location when empty), as veleroLocations.Store
// does.
func (r *BackupScheduleReconciler) sourceStore(ctx context.Context, locationName string) (storage.Store, error) {
	st, _, err := r.locations().Store(ctx, locationName)
	return st, err
}

// locations reads Velero's locations through the uncached reader.
func (r *BackupScheduleReconciler) locations() veleroLocations {
	return veleroLocations{Reader: r.APIReader, Namespace: r.VeleroNamespace, Credentials: r.VeleroCredentials}
}
