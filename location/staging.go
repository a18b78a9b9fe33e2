package location

import (
	"errors"
	"fmt"
	"strings"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
)

// ErrStagingIsPrimary: a staging location is, or stores where, a location
// Velero writes primary backups to. A staged copy there would mix with
// primary backups (Velero's backup sync would list it as one of them), and
// Safekeep never writes where Velero keeps its own backups.
var ErrStagingIsPrimary = errors.New("staging location stores where primary backups go")

// CheckStaging returns an error wrapping ErrStagingIsPrimary when staging
// is one of primaries, or shares its endpoint, bucket and prefix with one.
// Drills and incident restores apply this one rule.
func CheckStaging(staging *velerov1.BackupStorageLocation, primaries ...*velerov1.BackupStorageLocation) error {
	for _, p := range primaries {
		switch {
		case p == nil:
		case p.Name == staging.Name:
			return fmt.Errorf("%w: %s is the location of primary backups; use a location on a bucket or prefix of its own", ErrStagingIsPrimary, staging.Name)
		case SameStorage(p, staging):
			return fmt.Errorf("%w: %s shares bucket and prefix with %s, the location of primary backups; use a bucket or prefix of its own", ErrStagingIsPrimary, staging.Name, p.Name)
		}
	}
	return nil
}

// SameStorage reports whether two locations share endpoint, bucket and
// prefix.
func SameStorage(a, b *velerov1.BackupStorageLocation) bool {
	ao, bo := a.Spec.ObjectStorage, b.Spec.ObjectStorage
	if ao == nil || bo == nil {
		return false
	}
	return ao.Bucket == bo.Bucket && strings.Trim(ao.Prefix, "/") == strings.Trim(bo.Prefix, "/") &&
		strings.TrimSuffix(a.Spec.Config["s3Url"], "/") == strings.TrimSuffix(b.Spec.Config["s3Url"], "/")
}
