package restore_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/restore"
)

// tarball builds a gzip-compressed tar of name -> content.
func tarball(t testing.TB, files map[string]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range order {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const cmJSON = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web","namespace":"phi","uid":"u1","resourceVersion":"9",
"creationTimestamp":"2025-01-01T00:00:00Z","managedFields":[{"manager":"x"}],"labels":{"app":"web"}},"data":{"K":"v"}}`

// veleroTarball is laid out as Velero writes it (format 1.1.0).
func veleroTarball(t testing.TB) []byte {
	files := map[string]string{
		"metadata/version": "1.1.0",
		"resources/configmaps/namespaces/phi/web.json":                     cmJSON,
		"resources/configmaps/v1-preferredversion/namespaces/phi/web.json": cmJSON,
		"resources/namespaces/cluster/phi.json":                            `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"phi","uid":"u"},"status":{"phase":"Active"}}`,
		"resources/services/namespaces/phi/web.json": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"phi"},
"spec":{"clusterIP":"10.0.0.7","clusterIPs":["10.0.0.7"],"ports":[{"port":80,"nodePort":30080}]}}`,
		"resources/jobs.batch/namespaces/phi/once.json": `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"once","namespace":"phi"},
"spec":{"selector":{"matchLabels":{"controller-uid":"x"}},"template":{"metadata":{"labels":{"controller-uid":"x","app":"a"}}}}}`,
	}
	return tarball(t, files, "metadata/version",
		"resources/configmaps/namespaces/phi/web.json",
		"resources/configmaps/v1-preferredversion/namespaces/phi/web.json",
		"resources/namespaces/cluster/phi.json",
		"resources/services/namespaces/phi/web.json",
		"resources/jobs.batch/namespaces/phi/once.json")
}

func TestWalkTarball(t *testing.T) {
	var got []string
	err := restore.WalkTarball(bytes.NewReader(veleroTarball(t)), func(it restore.Item) error {
		got = append(got, it.Resource+"|"+it.Namespace+"|"+it.Name+"|"+it.Group())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"configmaps|phi|web|", "namespaces||phi|", "services|phi|web|", "jobs.batch|phi|once|batch"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("items %v, want %v", got, want)
	}

	stop := errors.New("stop")
	if err := restore.WalkTarball(bytes.NewReader(veleroTarball(t)), func(restore.Item) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
	bad := map[string][]byte{
		"not gzip":   []byte("plain"),
		"unsafe":     tarball(t, map[string]string{"resources/../../etc/x.json": "{}"}, "resources/../../etc/x.json"),
		"truncated":  veleroTarball(t)[:40],
		"empty elem": tarball(t, map[string]string{"resources//namespaces/a/b.json": "{}"}, "resources//namespaces/a/b.json"),
	}
	for name, data := range bad {
		if err := restore.WalkTarball(bytes.NewReader(data), func(restore.Item) error { return nil }); !errors.Is(err, restore.ErrBadTarball) {
			t.Errorf("%s: %v, want ErrBadTarball", name, err)
		}
	}
}

func TestCleanObject(t *testing.T) {
	items := map[string]restore.Item{}
	if err := restore.WalkTarball(bytes.NewReader(veleroTarball(t)), func(it restore.Item) error {
		items[it.Resource] = it
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		resource       string
		want, unwanted []string
	}{
		{"configmaps", []string{"name: web", "namespace: phi", "app: web", "K: v"}, []string{"uid", "resourceVersion", "creationTimestamp", "managedFields"}},
		{"namespaces", []string{"name: phi"}, []string{"status", "uid"}},
		{"services", []string{"port: 80"}, []string{"clusterIP", "nodePort"}},
		{"jobs.batch", []string{"app: a"}, []string{"controller-uid", "selector"}},
	}
	for _, tc := range cases {
		obj, err := restore.CleanObject(items[tc.resource])
		if err != nil {
			t.Fatalf("%s: %v", tc.resource, err)
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(y), w) {
				t.Errorf("%s: YAML lacks %q:\n%s", tc.resource, w, y)
			}
		}
		for _, u := range tc.unwanted {
			if strings.Contains(string(y), u) {
				t.Errorf("%s: YAML keeps %q:\n%s", tc.resource, u, y)
			}
		}
	}
	if _, err := restore.CleanObject(restore.Item{Resource: "x", Name: "y", JSON: []byte(`[]`)}); !errors.Is(err, restore.ErrBadTarball) {
		t.Errorf("not an object: %v", err)
	}
}

func TestWriteResources(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "b.tar.gz"), veleroTarball(t), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	n, err := restore.WriteResources(root, "b.tar.gz", false)
	if err != nil || n != 4 {
		t.Fatalf("WriteResources = %d, %v; want 4 files", n, err)
	}
	for _, p := range []string{
		"resources/namespaces/phi/configmaps/web.yaml",
		"resources/namespaces/phi/services/web.yaml",
		"resources/namespaces/phi/jobs.batch/once.yaml",
		"resources/cluster/namespaces/phi.yaml",
	} {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, st.Mode())
		}
	}
	if _, err := restore.WriteResources(root, "b.tar.gz", false); !errors.Is(err, restore.ErrFileExists) {
		t.Errorf("second WriteResources: %v, want ErrFileExists", err)
	}
	if n, err := restore.WriteResources(root, "b.tar.gz", true); err != nil || n != 4 {
		t.Errorf("WriteResources with overwrite: %d, %v", n, err)
	}
	// A malformed tarball leaves nothing behind, not even a temporary folder.
	if err := os.WriteFile(filepath.Join(dir, "bad.tar.gz"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.WriteResources(root, "bad.tar.gz", true); !errors.Is(err, restore.ErrBadTarball) {
		t.Errorf("bad tarball: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

func FuzzWalkTarball(f *testing.F) {
	f.Add(veleroTarball(f))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = restore.WalkTarball(bytes.NewReader(data), func(it restore.Item) error {
			if it.Name == "" || it.Resource == "" || strings.Contains(it.Name, "/") || it.Name == ".." {
				t.Fatalf("bad item %+v", it)
			}
			_, _ = restore.CleanObject(it)
			return nil
		})
	})
}

// TestWriteResourcesLongNames writes items whose names fill Kubernetes'
// 253 characters, two of them alike but for the last character: each gets
// a file of its own, named within limits, listed in the index.
func TestWriteResourcesLongNames(t *testing.T) {
	long := strings.Repeat("a", 252)
	names := []string{long + "1", long + "2", "short"}
	files := map[string]string{"metadata/version": "1.1.0"}
	order := []string{"metadata/version"}
	for _, n := range names {
		p := "resources/configmaps/namespaces/phi/" + n + ".json"
		files[p] = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + n + `","namespace":"phi"},"data":{"K":"` + n[len(n)-1:] + `"}}`
		order = append(order, p)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "b.tar.gz"), tarball(t, files, order...), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = root.Close() }()
	n, err := restore.WriteResources(root, "b.tar.gz", false)
	if err != nil || n != 3 {
		t.Fatalf("WriteResources = %d, %v; want 3 files", n, err)
	}
	index, err := os.ReadFile(filepath.Join(dir, restore.ResourcesDir, restore.IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(index)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[1] != "configmaps" || f[2] != "phi" {
			t.Fatalf("index line %q", line)
		}
		if base := filepath.Base(f[0]); len(base) > 128 {
			t.Errorf("file name of %d bytes: %s", len(base), base)
		}
		data, err := os.ReadFile(filepath.Join(dir, restore.ResourcesDir, filepath.FromSlash(f[0])))
		if err != nil || !strings.Contains(string(data), "name: "+f[3]) {
			t.Errorf("%s does not hold %s: %v", f[0], f[3], err)
		}
		seen[f[3]] = true
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("index lacks %s...", n[:10])
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "resources/namespaces/phi/configmaps/short.yaml")); err != nil {
		t.Errorf("a short name is not kept as it is: %v", err)
	}
}
