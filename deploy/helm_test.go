package deploy

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const chartDir = "helm/safekeep"

// helmLabels are the labels the chart adds to every object and kustomize
// does not: the only difference the parity test allows.
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version"}

// helm runs bin/helm with args and an environment of its own, returning
// stdout, stderr and the error of a non-zero exit.
func helm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), testbed.Bin(t, "helm"), args...)
	cmd.Env = testbed.ChildEnv("HOME="+home, "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	return out.String(), stderr.String(), err
}

// helmTemplate renders the chart as release "safekeep" in namespace
// safekeep-system with extra args (--set, -f, --api-versions).
func helmTemplate(t *testing.T, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := helm(t, append([]string{"template", "safekeep", chartDir, "--namespace", controllerNS}, extra...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", extra, err, stderr)
	}
	return decode(t, []byte(out))
}

// key names an object across renders.
func key(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

func byKey(objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--set", "namespace.create=true,grafanaDashboard.enabled=true,image.digest=sha256:" + strings.Repeat("ab", 32)},
	} {
		out, stderr, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...)
		if err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s%s", args, err, out, stderr)
		}
	}
}

// TestHelmParity renders the chart with default values and the kustomize
// base, and requires the same objects: the chart is generated from the
// base (make generate), and this catches a generator that drops or
// changes anything.
func TestHelmParity(t *testing.T) {
	kust := byKey(render(t))
	for _, args := range [][]string{nil, {"--set", "namespace.create=true"}} {
		got := byKey(helmTemplate(t, args...))
		for k, o := range got {
			labels := o.GetLabels()
			for _, l := range helmLabels {
				if labels[l] == "" {
					t.Errorf("%s: no label %s", k, l)
				}
				delete(labels, l)
			}
			if len(labels) == 0 {
				labels = nil // removes the field: kustomize's object has none
			}
			o.SetLabels(labels)
			if ann := o.GetAnnotations(); ann["helm.sh/resource-policy"] == "keep" && o.GetKind() == "CustomResourceDefinition" {
				delete(ann, "helm.sh/resource-policy") // crds.keep: the chart's own addition
				o.SetAnnotations(ann)
			}
		}
		want := maps.Clone(kust)
		if len(args) == 0 {
			// Helm's convention: the release namespace exists, or
			// --create-namespace makes it; namespace.create adds it.
			delete(want, "Namespace /"+controllerNS)
		}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			g, ok := got[k]
			if !ok {
				t.Errorf("helm template %v lacks %s", args, k)
				continue
			}
			if !reflect.DeepEqual(g.Object, want[k].Object) {
				gj, _ := json.MarshalIndent(g.Object, "", " ") // for the message only
				wj, _ := json.MarshalIndent(want[k].Object, "", " ")
				t.Errorf("helm template %v: %s differs from kustomize:\nhelm:\n%s\nkustomize:\n%s", args, k, gj, wj)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("helm template %v renders %s, which kustomize does not", args, k)
			}
		}
	}
}

// TestHelmValues checks that each value reaches the objects.
func TestHelmValues(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`
image: {repository: registry.example/safekeep, digest: `+digest+`, pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
replicaCount: 3
resources: {requests: {cpu: 200m, memory: 128Mi}, limits: {memory: 512Mi}}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: backup, effect: NoSchedule}]
affinity: null
podAnnotations: {example.com/team: platform}
velero: {namespace: velero-prod}
clusterID: prod-east
extraArgs: [--target-check-interval=10m]
networkPolicy: {s3Endpoints: [{cidr: 10.1.2.3/32, port: 9000}]}
namespace: {create: true}
crds: {keep: false}
grafanaDashboard: {enabled: true}
extraObjects:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: extra, namespace: "{{ .Release.Namespace }}"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	objs := byKey(helmTemplate(t, "-f", values))
	var d appsv1.Deployment
	typed(t, objs["Deployment safekeep-system/safekeep-controller"], &d)
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	for what, ok := range map[string]bool{
		"image digest":       c.Image == "registry.example/safekeep@"+digest,
		"pull policy":        c.ImagePullPolicy == corev1.PullAlways,
		"pull secrets":       len(ps.ImagePullSecrets) == 1 && ps.ImagePullSecrets[0].Name == "regcred",
		"replicas":           *d.Spec.Replicas == 3,
		"resources":          c.Resources.Limits.Memory().String() == "512Mi" && c.Resources.Requests.Cpu().String() == "200m",
		"node selector":      ps.NodeSelector["kubernetes.io/os"] == "linux",
		"tolerations":        len(ps.Tolerations) == 1 && ps.Tolerations[0].Key == "dedicated",
		"affinity off":       ps.Affinity == nil,
		"pod annotations":    d.Spec.Template.Annotations["example.com/team"] == "platform",
		"velero namespace":   slices.Contains(c.Args, "--velero-namespace=velero-prod"),
		"extra args":         slices.Contains(c.Args, "--target-check-interval=10m"),
		"cluster ID":         slices.Contains(c.Args, "--cluster-id=prod-east"),
		"reader image":       slices.Contains(c.Args, "--volume-reader-image=registry.example/safekeep@"+digest),
		"role in velero-ns":  objs["Role velero-prod/safekeep-controller"] != nil && objs["RoleBinding velero-prod/safekeep-controller"] != nil,
		"no role in velero":  objs["Role velero/safekeep-controller"] == nil,
		"namespace":          objs["Namespace /safekeep-system"].GetLabels()["pod-security.kubernetes.io/enforce"] == "restricted",
		"dashboard":          objs["ConfigMap safekeep-system/safekeep-grafana-dashboard"] != nil,
		"extra objects":      objs["ConfigMap safekeep-system/extra"] != nil,
		"crds without keep":  objs["CustomResourceDefinition /offsitetargets.safekeep.dev"].GetAnnotations()["helm.sh/resource-policy"] == "",
		"no service monitor": objs["ServiceMonitor safekeep-system/safekeep-controller"] == nil,
	} {
		if !ok {
			t.Errorf("%s: not as set", what)
		}
	}
	var np networkingv1.NetworkPolicy
	typed(t, objs["NetworkPolicy safekeep-system/safekeep-controller"], &np)
	last := np.Spec.Egress[len(np.Spec.Egress)-1]
	if len(last.To) != 1 || last.To[0].IPBlock == nil || last.To[0].IPBlock.CIDR != "10.1.2.3/32" || last.Ports[0].Port.IntValue() != 9000 {
		t.Errorf("S3 endpoint egress rule %+v", last)
	}

	// Defaults: CRDs kept on uninstall; the Prometheus Operator's kinds
	// only when its CRDs are installed.
	objs = byKey(helmTemplate(t))
	if objs["CustomResourceDefinition /offsitetargets.safekeep.dev"].GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Error("CRDs are not kept on uninstall by default")
	}
	objs = byKey(helmTemplate(t, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"))
	if objs["ServiceMonitor safekeep-system/safekeep-controller"] == nil || objs["PrometheusRule safekeep-system/safekeep"] == nil {
		t.Error("with the Prometheus Operator's CRDs, no ServiceMonitor or PrometheusRule")
	}
	for set, want := range map[string]string{
		"":                                      "ghcr.io/safekeep-dev/safekeep-controller:v0.1.0",
		"image.tag=v9.9.9":                      "ghcr.io/safekeep-dev/safekeep-controller:v9.9.9",
		"volumeReaderImage=mirror.example/sk:1": "mirror.example/sk:1",
	} {
		args := []string{}
		if set != "" {
			args = []string{"--set", set}
		}
		typed(t, byKey(helmTemplate(t, args...))["Deployment safekeep-system/safekeep-controller"], &d)
		c := d.Spec.Template.Spec.Containers[0]
		got, n := readerImage(c.Args)
		if n != 1 || got != want {
			t.Errorf("--set %q: --volume-reader-image %q (%d times), want %q", set, got, n, want)
		}
		if set == "image.tag=v9.9.9" && got != c.Image {
			t.Errorf("--set %q: reader image %q, container image %q", set, got, c.Image)
		}
	}
	if objs := byKey(helmTemplate(t, "--set", "crds.enabled=false")); objs["CustomResourceDefinition /offsitetargets.safekeep.dev"] != nil {
		t.Error("crds.enabled=false still renders the CRDs")
	}
}

// TestHelmPrometheusRuleMatches checks that the chart's PrometheusRule is
// deploy/prometheus's, with the rules' template text intact.
func TestHelmPrometheusRuleMatches(t *testing.T) {
	objs := byKey(helmTemplate(t, "--api-versions", "monitoring.coreos.com/v1/PrometheusRule"))
	got := objs["PrometheusRule safekeep-system/safekeep"]
	data, err := os.ReadFile("prometheus/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, data)[0]
	if got == nil || !reflect.DeepEqual(got.Object["spec"], want.Object["spec"]) {
		t.Errorf("the chart's PrometheusRule spec differs from prometheus/prometheusrule.yaml")
	}
}

// TestHelmSchemaRefuses checks that values.schema.json catches a typo and
// a wrong type, naming the value.
func TestHelmSchemaRefuses(t *testing.T) {
	for set, want := range map[string]string{
		"replicas=3":            "replicas",
		"replicaCount=two":      "replicaCount",
		"image.pullPolicy=Some": "pullPolicy",
		"velero.namespace=Bad_": "namespace",
	} {
		_, stderr, err := helm(t, "template", "safekeep", chartDir, "--set", set)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("--set %s: %v %q, want a schema error naming %s", set, err, stderr, want)
		}
	}
}
