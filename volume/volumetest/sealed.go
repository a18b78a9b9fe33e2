package volumetest

import (
	"context"
	"testing"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/volume"
)

// SealVolumes writes backup into the bed's Velero location with one pod
// volume "data" per entry of dirs (pod name -> folder), each snapshotted by
// kopia into namespace ns's repository, seals it (schedule "nightly") with
// a volume planner, and returns the seal's verified manifest.
func SealVolumes(t testing.TB, b *sealtest.Bed, backup, ns string, dirs map[string]string) *seal.Manifest {
	t.Helper()
	ctx := t.Context()
	b.VeleroBackup(t, backup, "Completed", 1<<10)
	r := NewRepo(t, Password)
	var vols []PodVolume
	for pod, dir := range dirs {
		vols = append(vols, PodVolume{Namespace: ns, Pod: pod, Volume: "data", PVC: "data-" + pod, SnapshotID: r.Snapshot(t, dir)})
	}
	r.CopyTo(t, b.Source, ns)
	WriteBackup(t, b.Source, backup, "default", vols)
	s := b.Sealer()
	s.Volumes = &volume.Planner{Source: b.Source, BSL: "default",
		Password: func(context.Context) (string, error) { return Password, nil }}
	if _, err := s.Seal(ctx, "nightly", backup); err != nil {
		t.Fatalf("volumetest: seal %s: %v", backup, err)
	}
	pub := b.Signer.Public()
	o, err := seal.Open(ctx, b.Offsite, "nightly", backup, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatalf("volumetest: open %s: %v", backup, err)
	}
	return o.Manifest
}
