package e2e

import (
	"strings"
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestDrillThroughDeleteMarkers: on a versioned, object-locked offsite
// bucket (as on AWS) an attacker deletes every current object of a sealed
// backup, seal.json and the manifest included. A drill on the real Velero
// server still passes every check, reading each object from its locked
// version, and says so in its seal check.
func TestDrillThroughDeleteMarkers(t *testing.T) {
	b := startBed(t, bedSpec{buckets: map[string]bool{drillOffsite: true}, staging: []string{drillStaging}, versioned: true})
	ctx := t.Context()
	d := &drillBed{bed: b}
	d.offsite = sealtest.OpenStore(t, b.s3.Config(drillOffsite, "drills/safekeep/v1"))
	d.staging = sealtest.OpenStore(t, b.s3.Config(drillStaging, ""))
	d.recipients, d.ids, d.idText = sealtest.NewKeys(t)
	d.signer = sealtest.NewSigner(t)
	createWorkload(t, b.cp.Client, drillSource, "PHI-MARKER-"+randomHex(t, 8))
	if bk := b.velero.Backup(t, ctx, drillBackup, velerov1.BackupSpec{IncludedNamespaces: []string{drillSource}}); bk.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s, want Completed", bk.Status.Phase)
	}
	s := &seal.Sealer{
		Source: sealtest.OpenStore(t, b.s3.Config(veleroBucket, "")), Offsite: d.offsite,
		Recipients: d.recipients, Signer: d.signer, Lock: &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1},
	}
	if _, err := s.Seal(ctx, drillSchedule, drillBackup); err != nil {
		t.Fatalf("seal: %v", err)
	}
	var hidden []string
	for info, err := range d.offsite.List(ctx, seal.BackupPrefix(drillSchedule, drillBackup)) {
		if err != nil {
			t.Fatal(err)
		}
		if info.Key == seal.SealKey(drillSchedule, drillBackup) || info.Key == seal.ManifestKey(drillSchedule, drillBackup) ||
			strings.HasPrefix(info.Key, seal.ObjectsPrefix(drillSchedule, drillBackup)) {
			hidden = append(hidden, info.Key)
		}
	}
	for _, key := range hidden {
		sealtest.Hide(t, d.offsite, key)
	}

	opts := d.options(drillSchedule, "hidden")
	opts.TrustedKeys = []crypto.VerifyKey{d.signer.Public()}
	res := d.run(t, opts)
	wantChecks(t, res)
	if len(res.Hidden) != len(hidden) {
		t.Errorf("drill reports %d hidden objects, want %d", len(res.Hidden), len(hidden))
	}
	if c, _ := res.Check(drill.CheckSeal); !strings.Contains(c.Message, "hidden by delete markers, recovered from locked versions") {
		t.Errorf("seal check message %q does not say objects were recovered from under delete markers", c.Message)
	}
}
