package v1alpha1_test

import (
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/client-go/discovery"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// TestShortNames: every kind has a short name, as Velero's and
// cert-manager's do, and none is taken by another resource of a cluster
// with Velero installed.
func TestShortNames(t *testing.T) {
	paths := append(testbed.VeleroCRDPaths(t), filepath.Join(testbed.RepoRoot(t), "deploy", "crd"))
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(paths...))
	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]string{} // every name of every other resource -> that resource
	ours := map[string][]string{} // kind -> short names
	var ourNames []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			if r.Kind == "" || !slices.Contains(r.Verbs, "list") {
				continue // subresources
			}
			names := append([]string{r.Name, r.SingularName}, r.ShortNames...)
			if l.GroupVersion == v1.GroupVersion.String() {
				ours[r.Kind] = r.ShortNames
				ourNames = append(ourNames, names...)
				continue
			}
			for _, n := range names {
				others[n] = r.Name + "." + l.GroupVersion
			}
		}
	}
	for _, n := range ourNames {
		if other, taken := others[n]; taken && n != "" {
			t.Errorf("name %q is also %s's", n, other)
		}
	}
	for _, kind := range []string{"OffsiteTarget", "BackupSchedule", "OffsiteBackup", "RestoreDrill"} {
		if len(ours[kind]) == 0 {
			t.Errorf("%s has no short name", kind)
		}
	}
	t.Logf("short names: %v", ours)
}
