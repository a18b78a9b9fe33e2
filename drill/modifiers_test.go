package drill

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/safekeep-dev/safekeep/restore"
)

// factsOf parses items as the tarball parser would.
func factsOf(t *testing.T, items ...restore.Item) *tarballFacts {
	t.Helper()
	f := newTarballFacts()
	for _, it := range items {
		if err := f.add(it); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

const lbService = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"phi"},
 "spec":{"type":"LoadBalancer","externalTrafficPolicy":"Local","healthCheckNodePort":31000,"allocateLoadBalancerNodePorts":true,
  "loadBalancerSourceRanges":["0.0.0.0/0"],"externalIPs":["203.0.113.7"],
  "ports":[{"name":"https","port":443,"protocol":"TCP","targetPort":8443,"nodePort":30443,"appProtocol":"https"}]}}`

func TestIsolationDefaults(t *testing.T) {
	iso, err := Isolation{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if iso.Workloads != WorkloadsInert || iso.PodSecurity != PodSecurityRestricted || iso.Quota == nil || iso.LimitDefault == nil || iso.LimitDefaultRequest == nil {
		t.Errorf("defaults: %+v", iso)
	}
	// Inert ignores Run: nothing runs.
	iso, err = Isolation{Run: []string{KindDeployment}}.withDefaults()
	if err != nil || iso.runs(KindDeployment) {
		t.Errorf("Inert with Run: runs Deployment %v, err %v", iso.runs(KindDeployment), err)
	}
	for _, bad := range []Isolation{{Workloads: "Live"}, {Workloads: WorkloadsIsolated, Run: []string{"Ingress"}}, {PodSecurity: "privileged"}} {
		if _, err := bad.withDefaults(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%+v: err %v, want ErrInvalidOptions", bad, err)
		}
	}
}

func TestIsolationObjects(t *testing.T) {
	for _, dns := range []bool{false, true} {
		iso, _ := Isolation{AllowDNS: dns}.withDefaults()
		objs := iso.objects("scratch", map[string]string{"a": "b"})
		np, ok := objs[0].(*networkingv1.NetworkPolicy)
		if !ok {
			t.Fatalf("first object %T, want the NetworkPolicy", objs[0])
		}
		if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) != 0 || len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress) != 0 {
			t.Errorf("NetworkPolicy does not deny every pod both ways: %+v", np.Spec)
		}
		switch {
		case !dns && len(np.Spec.Egress) != 0:
			t.Errorf("egress allowed without AllowDNS: %+v", np.Spec.Egress)
		case dns && (len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].Ports) != 2 || np.Spec.Egress[0].Ports[0].Port.IntValue() != 53):
			t.Errorf("AllowDNS egress: %+v", np.Spec.Egress)
		}
		if _, ok := objs[1].(*corev1.ResourceQuota); !ok {
			t.Errorf("second object %T", objs[1])
		}
		if _, ok := objs[2].(*corev1.LimitRange); !ok {
			t.Errorf("third object %T", objs[2])
		}
	}
}

func TestModifierRules(t *testing.T) {
	facts := factsOf(t,
		restore.Item{Resource: "services", Namespace: "phi", Name: "web", JSON: []byte(lbService)},
		restore.Item{Resource: "services", Namespace: "phi", Name: "db", JSON: []byte(`{"spec":{"type":"ClusterIP","ports":[{"port":5432}]}}`)},
		restore.Item{Resource: "deployments.apps", Namespace: "phi", Name: "web", JSON: []byte(`{}`)},
		restore.Item{Resource: "ingresses.networking.k8s.io", Namespace: "phi", Name: "web", JSON: []byte(`{}`)},
	)
	cases := []struct {
		name          string
		iso           Isolation
		scaled        []string // groupResources with a generic rule
		excluded, not []string
	}{
		{"inert", Isolation{},
			[]string{"deployments.apps", "statefulsets.apps", "replicasets.apps", "replicationcontrollers", "cronjobs.batch", "jobs.batch"},
			[]string{"pods", "daemonsets.apps", "ingresses.networking.k8s.io", "httproutes.gateway.networking.k8s.io", "horizontalpodautoscalers.autoscaling", "scaledobjects.keda.sh", "validatingwebhookconfigurations.admissionregistration.k8s.io", "apiservices.apiregistration.k8s.io"}, nil},
		{"isolated deployments and pods run", Isolation{Workloads: WorkloadsIsolated, Run: []string{KindDeployment, KindPod}},
			[]string{"statefulsets.apps", "replicasets.apps", "replicationcontrollers", "cronjobs.batch", "jobs.batch"},
			[]string{"daemonsets.apps", "ingresses.networking.k8s.io"}, []string{"pods"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			iso, err := tc.iso.withDefaults()
			if err != nil {
				t.Fatal(err)
			}
			rules, err := iso.modifierRules(facts)
			if err != nil {
				t.Fatal(err)
			}
			var generic []string
			var svc []modifierRule
			for _, r := range rules {
				if r.Conditions.GroupResource == "services" {
					svc = append(svc, r)
					continue
				}
				generic = append(generic, r.Conditions.GroupResource)
			}
			if !slices.Equal(generic, tc.scaled) {
				t.Errorf("generic rules for %v, want %v", generic, tc.scaled)
			}
			if len(svc) != 1 || svc[0].Conditions.ResourceNameRegex != "^web$" || !slices.Equal(svc[0].Conditions.Namespaces, []string{"phi"}) {
				t.Fatalf("service rules %+v, want one for phi/web", svc)
			}
			excl := iso.excludedResources()
			for _, r := range tc.excluded {
				if !slices.Contains(excl, r) {
					t.Errorf("%s is restored, want it excluded (%v)", r, excl)
				}
			}
			for _, r := range tc.not {
				if slices.Contains(excl, r) {
					t.Errorf("%s is excluded, want it restored", r)
				}
			}
		})
	}
}

// TestServicePatch applies the Service rule's merge patch as Velero does
// (evanphx/json-patch MergePatch) and checks that what is left is a valid
// ClusterIP Service with the same ports.
func TestServicePatch(t *testing.T) {
	facts := factsOf(t, restore.Item{Resource: "services", Namespace: "phi", Name: "web", JSON: []byte(lbService)})
	rules, err := serviceRules(facts.exposed)
	if err != nil || len(rules) != 1 {
		t.Fatalf("rules %v, err %v", rules, err)
	}
	out, err := jsonpatch.MergePatch([]byte(lbService), []byte(rules[0].MergePatches[0].PatchData))
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := json.Unmarshal(out, &svc); err != nil {
		t.Fatal(err)
	}
	s := svc.Spec
	if s.Type != corev1.ServiceTypeClusterIP || s.ExternalTrafficPolicy != "" || s.HealthCheckNodePort != 0 || s.AllocateLoadBalancerNodePorts != nil ||
		len(s.LoadBalancerSourceRanges) != 0 || len(s.ExternalIPs) != 0 {
		t.Errorf("patched spec still exposes the Service: %s", out)
	}
	if len(s.Ports) != 1 || s.Ports[0].NodePort != 0 || s.Ports[0].Port != 443 || s.Ports[0].TargetPort.IntValue() != 8443 || s.Ports[0].Name != "https" ||
		s.Ports[0].AppProtocol == nil || *s.Ports[0].AppProtocol != "https" {
		t.Errorf("ports %+v, want port 443 -> 8443 named https, no nodePort", s.Ports)
	}
	if !strings.Contains(string(out), `"name":"web"`) {
		t.Errorf("metadata lost: %s", out)
	}
}

func TestChangesOf(t *testing.T) {
	facts := factsOf(t,
		restore.Item{Resource: "services", Namespace: "phi", Name: "web", JSON: []byte(lbService)},
		restore.Item{Resource: "deployments.apps", Namespace: "phi", Name: "zz-obj-1", JSON: []byte(`{}`)},
		restore.Item{Resource: "deployments.apps", Namespace: "phi", Name: "zz-obj-2", JSON: []byte(`{}`)},
		restore.Item{Resource: "statefulsets.apps", Namespace: "phi", Name: "zz-obj-3", JSON: []byte(`{}`)},
		restore.Item{Resource: "httproutes.gateway.networking.k8s.io", Namespace: "phi", Name: "zz-obj-5", JSON: []byte(`{}`)},
		restore.Item{Resource: "validatingwebhookconfigurations.admissionregistration.k8s.io", Name: "zz-obj-4", JSON: []byte(`{}`)},
	)
	iso, _ := Isolation{Workloads: WorkloadsIsolated, Run: []string{KindStatefulSet}}.withDefaults()
	got := iso.changesOf(facts).Summary()
	want := "workloads Isolated; modified: 2 Deployment.apps, 1 Service; not restored: 1 HTTPRoute.gateway.networking.k8s.io, 1 ValidatingWebhookConfiguration.admissionregistration.k8s.io; ran: 1 StatefulSet.apps"
	if got != want {
		t.Errorf("Summary:\n got %s\nwant %s", got, want)
	}
	if strings.Contains(got, "zz-obj") || strings.Contains(got, "phi") {
		t.Errorf("the summary names objects: %s", got)
	}
}
