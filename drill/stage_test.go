package drill

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
)

func TestStagedObjectName(t *testing.T) {
	cases := []struct{ name, want string }{
		{"b1.tar.gz", "s.tar.gz"},
		{"b1-logs.gz", "s-logs.gz"},
		{"b1-resource-list.json.gz", "s-resource-list.json.gz"},
		{"velero-backup.json", "velero-backup.json"},
		{"b10.tar.gz", "b10.tar.gz"}, // another backup's name, not b1's
		{"b1", "b1"},
	}
	for _, tc := range cases {
		if got := stagedObjectName("s", "b1", tc.name); got != tc.want {
			t.Errorf("stagedObjectName(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := stagedKey("s", "b1", "b1.tar.gz"); got != "backups/s/s.tar.gz" {
		t.Errorf("stagedKey = %q", got)
	}
}

func TestStagedBackupJSON(t *testing.T) {
	now := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	r := &runner{now: func() time.Time { return now }, opts: Options{
		Schedule: "nightly", Backup: "b1", StagedName: "drill-x-1", StagingLocation: "staging",
		VeleroNamespace: "velero", RestoreTimeout: time.Hour, Labels: map[string]string{"safekeep.dev/drill": "x"},
	}}
	in := `{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"b1","namespace":"velero","uid":"u",
"resourceVersion":"7","labels":{"safekeep.dev/schedule":"ns.s","velero.io/schedule-name":"s","velero.io/storage-location":"default"},
"annotations":{"a":"b"},"ownerReferences":[{"apiVersion":"velero.io/v1","kind":"Schedule","name":"s","uid":"x"}]},
"spec":{"includedNamespaces":["phi"],"storageLocation":"default","hooks":{"resources":[{"name":"h"}]},"futureField":1},
"status":{"phase":"Completed","formatVersion":"1.1.0","expiration":"2025-01-01T00:00:00Z"}}`
	out, err := r.stagedBackupJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := decodeBackup(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"safekeep.dev/drill": "x", LabelStaged: "true", LabelSourceBackup: "b1",
		velerov1.StorageLocationLabel: "staging",
	}
	if len(b.Labels) != len(want) {
		t.Errorf("labels %v, want %v", b.Labels, want)
	}
	for k, v := range want {
		if b.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, b.Labels[k], v)
		}
	}
	switch {
	case b.Name != "drill-x-1" || b.Namespace != "velero" || b.UID != "" || b.ResourceVersion != "" || len(b.OwnerReferences) != 0:
		t.Errorf("metadata %+v", b.ObjectMeta)
	case b.Annotations[AnnotationSource] != "nightly/b1" || len(b.Annotations) != 1:
		t.Errorf("annotations %v", b.Annotations)
	case b.Spec.StorageLocation != "staging" || len(b.Spec.Hooks.Resources) != 0 || b.Spec.IncludedNamespaces[0] != "phi":
		t.Errorf("spec %+v", b.Spec)
	case b.Status.Phase != velerov1.BackupPhaseCompleted || b.Status.FormatVersion != "1.1.0":
		t.Errorf("status %+v", b.Status)
	case !b.Status.Expiration.Time.Equal(now.Add(time.Hour + stagedTTL)):
		t.Errorf("expiration %v", b.Status.Expiration)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil || doc["spec"].(map[string]any)["futureField"] != 1.0 {
		t.Errorf("an unknown field was lost: %s", out)
	}

	for _, bad := range []string{`{}`, `not json`, `{"kind":"Backup","status":{"phase":"Failed"}}`, `{"kind":"Restore"}`} {
		if _, err := r.stagedBackupJSON([]byte(bad)); !errors.Is(err, errNotVelero) {
			t.Errorf("stagedBackupJSON(%s): %v, want errNotVelero", bad, err)
		}
	}
}

func TestMapping(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		sources []string
		want    map[string]string
	}{
		{"explicit", Options{NamespaceMapping: map[string]string{"a": "x", "b": "y"}}, []string{"a", "b"}, map[string]string{"a": "x", "b": "y"}},
		{"function", Options{MapNamespace: func(s string) string { return "d-" + s }, CreateNamespaces: true}, []string{"a"}, map[string]string{"a": "d-a"}},
		{"in place", Options{NamespaceMapping: map[string]string{"a": "a"}}, []string{"a"}, map[string]string{"a": "a"}},
		{"unmapped", Options{NamespaceMapping: map[string]string{"a": "x"}}, []string{"a", "b"}, nil},
		{"not in backup", Options{NamespaceMapping: map[string]string{"a": "x", "c": "z"}}, []string{"a"}, nil},
		{"two to one", Options{NamespaceMapping: map[string]string{"a": "x", "b": "x"}}, []string{"a", "b"}, nil},
		{"invalid", Options{NamespaceMapping: map[string]string{"a": "X_"}}, []string{"a"}, nil},
		{"drill into a source", Options{NamespaceMapping: map[string]string{"a": "b", "b": "c"}, CreateNamespaces: true}, []string{"a", "b"}, nil},
		{"no namespaces", Options{}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &runner{opts: tc.opts}
			got, err := r.mapping(tc.sources)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("mapping = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("mapping = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestExpectedItems(t *testing.T) {
	res := map[string][]string{
		"v1/ConfigMap":        {"a/c1", "b/c2"},
		"apps/v1/Deployment":  {"a/web"},
		"v1/Namespace":        {"a", "b"},
		"v1/Event":            {"a/e1"},
		"v1/Pod":              {"a/done", "a/running"},
		"velero.io/v1/Backup": {"velero/x"},
	}
	skipped := map[objectRef]bool{{"/Pod", "a", "done"}: true}
	exp, err := expectedItems(res, skipped, nil)
	if err != nil {
		t.Fatal(err)
	}
	if exp.total != 4 { // c1, c2, web, running
		t.Errorf("total %d, want 4: %v", exp.total, exp.byKind)
	}
	if _, err := expectedItems(map[string][]string{"Bad": {"a/b"}}, nil, nil); err == nil {
		t.Error("a bad kind was accepted")
	}
}
