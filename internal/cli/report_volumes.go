package cli

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/report"
)

// notCoveredNames reads, with --target, the volumes not covered of each
// OffsiteBackup of the target (in its namespace), by
// "<schedule>/<backup>", for the report to name them: the plaintext audit
// log counts them only (docs/report.md). Without the cluster it returns
// nil and the report gives counts.
func notCoveredNames(ctx context.Context, off *offsite) (map[string][]report.NamedVolume, string, error) {
	if off.cluster == nil {
		return nil, "", nil
	}
	var list v1alpha1.OffsiteBackupList
	if err := off.cluster.List(ctx, &list, client.InNamespace(off.target.Namespace)); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, "", nil // counts only, as without the cluster
		}
		return nil, "", fmt.Errorf("list OffsiteBackups: %w", err)
	}
	out := make(map[string][]report.NamedVolume)
	for _, ob := range list.Items {
		if ob.Spec.OffsiteTargetRef.Name != off.target.Name || ob.Status.Volumes == nil {
			continue
		}
		var named []report.NamedVolume
		for _, v := range ob.Status.Volumes.Volumes {
			if !v.Sealed {
				named = append(named, report.NamedVolume{Namespace: v.Namespace, PVC: v.PVC, Pod: v.Pod, Volume: v.Volume, Reason: v.Reason})
			}
		}
		out[ob.Spec.ScheduleName+"/"+ob.Spec.VeleroBackupName] = named
	}
	return out, "the OffsiteBackups' status.volumes in " + off.target.Namespace, nil
}
