package drill

import (
	"slices"
	"testing"

	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
)

// TestDataUploadsAreNotANamespace: a backup whose CSI snapshots Velero's
// data mover moved holds its DataUploads, in Velero's namespace, in the
// tarball; they are Velero's record of the move (its restore reads them
// and never creates them), so the drill maps only the workload's
// namespaces. Seen on the test bed: a CLI restore --namespace-mapping
// refused such a backup ("holds namespace velero, which the namespace
// mapping does not map") and a drill made a scratch namespace for velero.
func TestDataUploadsAreNotANamespace(t *testing.T) {
	f := factsOf(t,
		restore.Item{Resource: "persistentvolumeclaims", Namespace: "phi-scans", Name: "scans", JSON: []byte(`{}`)},
		restore.Item{Resource: "datauploads.velero.io", Namespace: "velero", Name: "scans-1-x7k2p", JSON: []byte(`{}`)},
	)
	m := &seal.Manifest{Resources: map[string][]string{
		"v1/PersistentVolumeClaim":      {"phi-scans/scans"},
		"velero.io/v2alpha1/DataUpload": {"velero/scans-1-x7k2p"},
	}}
	if got := namespacesOf(m, f); !slices.Equal(got, []string{"phi-scans"}) {
		t.Errorf("namespaces = %v, want [phi-scans]", got)
	}
	exp, err := expectedItems(m.Resources, f.skipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exp.total != 1 {
		t.Errorf("presence expects %d items, want 1 (the PVC; Velero never restores a DataUpload)", exp.total)
	}
}
