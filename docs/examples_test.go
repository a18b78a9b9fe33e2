// Package docs_test checks the documentation against the real API: every
// object in a YAML example of README.md and docs/*.md is created with a
// server-side dry run (strict field validation) on a kube-apiserver with
// Safekeep's and Velero's CRDs installed.
package docs_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

// example is one YAML document of a fenced ```yaml block.
type example struct {
	where string // file:line of the block
	doc   []byte
}

// examples returns the YAML documents of the ```yaml blocks in path.
func examples(t *testing.T, path string) []example {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	var block *bytes.Buffer
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case block == nil && strings.TrimSpace(line) == "```yaml":
			block, start = &bytes.Buffer{}, n
		case block != nil && strings.TrimSpace(line) == "```":
			for i, doc := range strings.Split(block.String(), "\n---\n") {
				out = append(out, example{where: fmt.Sprintf("%s:%d (document %d)", filepath.Base(path), start, i+1), doc: []byte(doc)})
			}
			block = nil
		case block != nil:
			block.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestYAMLExamplesApply(t *testing.T) {
	root := testbed.RepoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	cp := testbed.StartControlPlane(t, testbed.WithCRDs(filepath.Join(root, "deploy", "crd")))
	cp.InstallCRDs(t, testbed.VeleroCRDPaths(t)...)
	ctx := t.Context()
	applied := 0
	for _, f := range files {
		for _, ex := range examples(t, f) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal(ex.doc, &u.Object); err != nil {
				t.Errorf("%s: not YAML: %v", ex.where, err)
				continue
			}
			if u.GetKind() == "" {
				t.Logf("%s: no kind (a fragment of an object): not applied", ex.where)
				continue
			}
			if u.GetNamespace() == "" {
				u.SetNamespace("default")
			}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetNamespace()}}
			if err := cp.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			err := cp.Client.Create(ctx, u, client.DryRunAll, client.FieldValidation("Strict"))
			if err != nil {
				t.Errorf("%s: %s %q is refused by the API server: %v", ex.where, u.GetKind(), u.GetName(), err)
				continue
			}
			applied++
		}
	}
	if applied == 0 {
		t.Fatal("no example was applied")
	}
	t.Logf("%d examples applied (dry run)", applied)
}
