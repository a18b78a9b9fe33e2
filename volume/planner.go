package volume

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Planner finds the volume data of Velero backups in one backup storage
// location for a seal (it implements seal.VolumePlanner).
type Planner struct {
	// Source is the backup storage location, rooted at its prefix.
	Source storage.Store
	// BSL is the location's name, as PodVolumeBackups name it.
	BSL string
	// Password returns the kopia repository password (Velero's Secret
	// velero-repo-credentials, key repository-password).
	Password func(ctx context.Context) (string, error)
}

var _ seal.VolumePlanner = (*Planner)(nil)

// PlanVolumes classifies the backup's volumes (ReadCoverage) and plans, per
// namespace repository, the blobs that restore the snapshots of those in a
// kopia repository: file-system backups and data mover volumes alike. A
// backup with no volume at all has a nil plan; one with only volumes that
// are not covered has a plan naming them, and the repository password is
// not read. A volume in another location is refused (ErrUnsupported).
func (p *Planner) PlanVolumes(ctx context.Context, backup string) (*seal.VolumePlan, error) {
	cov, err := ReadCoverage(ctx, p.Source, backup)
	if err != nil || (len(cov.Sealed) == 0 && len(cov.NotCovered) == 0) {
		return nil, err
	}
	out := &seal.VolumePlan{NotCovered: uncoveredRecords(cov.NotCovered)}
	if len(cov.Sealed) == 0 {
		return out, nil
	}
	byNS, err := p.snapshotsByNamespace(backup, cov.Sealed)
	if err != nil {
		return nil, err
	}
	password, err := p.Password(ctx)
	if err != nil {
		return nil, fmt.Errorf("repository password: %w", err)
	}
	snaps := make(map[string]Snapshot) // namespace/snapshot ID
	repoOf := make(map[string]string)  // namespace -> bsl/namespace/unique ID
	for _, ns := range slices.Sorted(maps.Keys(byNS)) {
		plan, err := PlanRepository(ctx, p.Source, ns, password, byNS[ns])
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", backup, err)
		}
		pr := seal.PlannedRepository{BSL: p.BSL, Namespace: ns, UniqueID: plan.UniqueID,
			Password: seal.Password(password), Prefix: plan.Prefix}
		for _, md := range plan.Blobs {
			pr.Blobs = append(pr.Blobs, seal.PlannedBlob{ID: string(md.BlobID), Size: md.Length})
		}
		out.Repositories = append(out.Repositories, pr)
		repoOf[ns] = p.BSL + "/" + ns + "/" + plan.UniqueID
		for _, s := range plan.Snapshots {
			snaps[ns+"/"+s.ID] = s
		}
	}
	for _, v := range cov.Sealed {
		s := snaps[v.Namespace+"/"+v.SnapshotID]
		out.Volumes = append(out.Volumes, seal.VolumeRecord{
			Namespace: v.Namespace, Pod: v.Pod, Volume: v.Volume, PVC: v.PVC, Method: string(v.Method), SnapshotID: v.SnapshotID,
			RootObjectID: s.RootObjectID, Files: s.Files, Bytes: s.Bytes, Repository: repoOf[v.Namespace],
			AlteredNames: s.Names.Altered, ShadowedEntries: s.Names.Shadowed,
			ShadowedFiles: s.Names.ShadowedFiles, ShadowedBytes: s.Names.ShadowedBytes,
		})
	}
	return out, nil
}

// snapshotsByNamespace groups the volumes' snapshot IDs by repository
// (namespace), refusing a volume in another location than p's.
func (p *Planner) snapshotsByNamespace(backup string, vols []Volume) (map[string][]string, error) {
	byNS := make(map[string][]string)
	for _, v := range vols {
		if v.BSL != "" && v.BSL != p.BSL {
			return nil, fmt.Errorf("backup %s: volume %s/%s/%s is in location %q, the backup in %q: %w",
				backup, v.Namespace, v.Pod, v.Volume, v.BSL, p.BSL, ErrUnsupported)
		}
		if !slices.Contains(byNS[v.Namespace], v.SnapshotID) {
			byNS[v.Namespace] = append(byNS[v.Namespace], v.SnapshotID)
		}
	}
	return byNS, nil
}

// uncoveredRecords are the manifest's records of us.
func uncoveredRecords(us []Uncovered) []seal.UncoveredVolume {
	var out []seal.UncoveredVolume
	for _, u := range us {
		out = append(out, seal.UncoveredVolume{Namespace: u.Namespace, PVC: u.PVC, Pod: u.Pod, Volume: u.Volume,
			Reason: string(u.Reason), Message: u.Message})
	}
	return out
}
