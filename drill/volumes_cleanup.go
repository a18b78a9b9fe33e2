package drill

import (
	"context"
	"errors"
	"fmt"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

// cleanupVolumes deletes what a volume restore of staged left: the staged
// PodVolumeBackups and, for each BackupRepository labelled with staged,
// every object under kopia/<namespace>/ of the staging location st (the
// staged blobs and whatever Velero's restore added) and then the
// BackupRepository. Without st the BackupRepositories stay: each is the
// record of a staged repository still to delete.
func cleanupVolumes(ctx context.Context, c client.Client, ns, staged string, st storage.Store) error {
	var errs []error
	var pvbs velerov1.PodVolumeBackupList
	err := c.List(ctx, &pvbs, client.InNamespace(ns), client.MatchingLabels{velerov1.BackupNameLabel: veleroLabelValue(staged), LabelStaged: "true"})
	if err != nil {
		errs = append(errs, fmt.Errorf("list staged PodVolumeBackups: %w", err))
	}
	for i := range pvbs.Items {
		if err := c.Delete(ctx, &pvbs.Items[i]); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete PodVolumeBackup %s/%s: %w", ns, pvbs.Items[i].Name, err))
		}
	}
	if st == nil {
		return errors.Join(errs...)
	}
	var repos velerov1.BackupRepositoryList
	if err := c.List(ctx, &repos, client.InNamespace(ns), client.MatchingLabels{LabelStagedBackup: staged, LabelStaged: "true"}); err != nil {
		return errors.Join(append(errs, fmt.Errorf("list staged BackupRepositories: %w", err))...)
	}
	for i := range repos.Items {
		br := &repos.Items[i]
		if err := deletePrefix(ctx, st, volume.RepositoryPrefix(br.Spec.VolumeNamespace), ""); err != nil {
			errs = append(errs, err) // the BackupRepository stays, for a retry
			continue
		}
		if err := c.Delete(ctx, br); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete BackupRepository %s/%s: %w", ns, br.Name, err))
		}
	}
	return errors.Join(errs...)
}
