package testbed

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Kustomize renders the kustomization in dir with bin/kubectl and returns
// its objects in order.
func Kustomize(tb TB, dir string) []*unstructured.Unstructured {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), Bin(tb, "kubectl"), "kustomize", dir)
	cmd.Env = ChildEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("testbed: kubectl kustomize %s: %v: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return DecodeObjects(tb, out)
}

// DecodeObjects returns the objects of a stream of YAML (or JSON)
// documents, skipping empty ones.
func DecodeObjects(tb TB, data []byte) []*unstructured.Unstructured {
	tb.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			tb.Fatalf("testbed: decode objects: %v", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}
