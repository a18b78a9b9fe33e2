package drill

import (
	"fmt"
	"strings"
)

// change is what Isolation does to one kind of restored object.
type change string

const (
	changeScaled    change = "scaled to 0 replicas"
	changeSuspended change = "suspended"
	changeExcluded  change = "not restored"
	changeClusterIP change = "made ClusterIP (no node port, load balancer or external IP)"
)

// kindPolicy is what Isolation does to one kind.
type kindPolicy struct {
	group, kind string
	// resource is Velero's name: "<plural>" or "<plural>.<group>".
	resource string
	change   change
	// run is the RunnableKinds entry that lifts the change with
	// WorkloadsIsolated; "" when nothing does.
	run string
}

// gk is "<group>/<Kind>", as objectRef and the presence check name kinds.
func (p kindPolicy) gk() string { return p.group + "/" + p.kind }

// policies: every kind that can start pods is stopped, everything that
// routes traffic in, scales, or acts cluster-wide is left out.
var policies = []kindPolicy{
	{"apps", "Deployment", "deployments.apps", changeScaled, KindDeployment},
	{"apps", "StatefulSet", "statefulsets.apps", changeScaled, KindStatefulSet},
	{"apps", "ReplicaSet", "replicasets.apps", changeScaled, KindReplicaSet},
	{"", "ReplicationController", "replicationcontrollers", changeScaled, KindReplicationController},
	{"batch", "CronJob", "cronjobs.batch", changeSuspended, KindCronJob},
	{"batch", "Job", "jobs.batch", changeSuspended, KindJob},
	{"apps", "DaemonSet", "daemonsets.apps", changeExcluded, KindDaemonSet},
	// Velero restores Pods without their owners: they would run.
	{"", "Pod", "pods", changeExcluded, KindPod},
	// Routing: a restored route naming a production host could take its
	// traffic; a Gateway provisions a load balancer.
	{"networking.k8s.io", "Ingress", "ingresses.networking.k8s.io", changeExcluded, ""},
	{"extensions", "Ingress", "ingresses.extensions", changeExcluded, ""},
	{"gateway.networking.k8s.io", "Gateway", "gateways.gateway.networking.k8s.io", changeExcluded, ""},
	{"gateway.networking.k8s.io", "HTTPRoute", "httproutes.gateway.networking.k8s.io", changeExcluded, ""},
	{"gateway.networking.k8s.io", "GRPCRoute", "grpcroutes.gateway.networking.k8s.io", changeExcluded, ""},
	{"gateway.networking.k8s.io", "TLSRoute", "tlsroutes.gateway.networking.k8s.io", changeExcluded, ""},
	{"gateway.networking.k8s.io", "TCPRoute", "tcproutes.gateway.networking.k8s.io", changeExcluded, ""},
	{"gateway.networking.k8s.io", "UDPRoute", "udproutes.gateway.networking.k8s.io", changeExcluded, ""},
	{"route.openshift.io", "Route", "routes.route.openshift.io", changeExcluded, ""},
	{"networking.istio.io", "VirtualService", "virtualservices.networking.istio.io", changeExcluded, ""},
	{"networking.istio.io", "Gateway", "gateways.networking.istio.io", changeExcluded, ""},
	{"traefik.io", "IngressRoute", "ingressroutes.traefik.io", changeExcluded, ""},
	{"projectcontour.io", "HTTPProxy", "httpproxies.projectcontour.io", changeExcluded, ""},
	// Scalers would scale the workloads back up.
	{"autoscaling", "HorizontalPodAutoscaler", "horizontalpodautoscalers.autoscaling", changeExcluded, ""},
	{"autoscaling.k8s.io", "VerticalPodAutoscaler", "verticalpodautoscalers.autoscaling.k8s.io", changeExcluded, ""},
	{"keda.sh", "ScaledObject", "scaledobjects.keda.sh", changeExcluded, ""},
	{"keda.sh", "ScaledJob", "scaledjobs.keda.sh", changeExcluded, ""},
	// Cluster-wide: they would act on every namespace's requests.
	{"admissionregistration.k8s.io", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations.admissionregistration.k8s.io", changeExcluded, ""},
	{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations.admissionregistration.k8s.io", changeExcluded, ""},
	{"apiregistration.k8s.io", "APIService", "apiservices.apiregistration.k8s.io", changeExcluded, ""},
}

// servicePolicy is the Service entry of the report (its rules are per
// object: see serviceRules).
var servicePolicy = kindPolicy{"", "Service", "services", changeClusterIP, ""}

// applies returns the policies iso applies: those no Run entry lifts.
func (iso *Isolation) applies() []kindPolicy {
	var out []kindPolicy
	for _, p := range policies {
		if p.run == "" || !iso.runs(p.run) {
			out = append(out, p)
		}
	}
	return out
}

// excludedResources are the Restore's excludedResources under iso.
func (iso *Isolation) excludedResources() []string {
	var out []string
	for _, p := range iso.applies() {
		if p.change == changeExcluded {
			out = append(out, p.resource)
		}
	}
	return out
}

// excludedKinds are the kinds iso keeps from being restored, by gk.
func (iso *Isolation) excludedKinds() map[string]bool {
	out := map[string]bool{}
	if iso == nil {
		return out
	}
	for _, p := range iso.applies() {
		if p.change == changeExcluded {
			out[p.gk()] = true
		}
	}
	return out
}

// KindCount is how many objects of a kind a drill changed, left out or
// let run.
type KindCount struct {
	// Kind is "<Kind>" for the core group, "<Kind>.<group>" otherwise.
	Kind  string
	Count int
	// Change says what was done ("scaled to 0 replicas", "not restored",
	// "allowed to run").
	Change string
}

func (k KindCount) String() string { return fmt.Sprintf("%d %s (%s)", k.Count, k.Kind, k.Change) }

// Changes is what Run did so that restored objects cannot act or be
// reached: counts by kind, never object names (they go in plaintext
// evidence).
type Changes struct {
	Workloads WorkloadsMode
	// Modified are the kinds restored changed; NotRestored those left out;
	// Ran those allowed to run (WorkloadsIsolated), the verification Job
	// included.
	Modified, NotRestored, Ran []KindCount
}

// Summary is the changes on one line.
func (c *Changes) Summary() string {
	if c == nil {
		return "no isolation"
	}
	parts := []string{"workloads " + string(c.Workloads)}
	for _, l := range []struct {
		what string
		list []KindCount
	}{{"modified", c.Modified}, {"not restored", c.NotRestored}, {"ran", c.Ran}} {
		if len(l.list) == 0 {
			continue
		}
		var s []string
		for _, k := range l.list {
			s = append(s, fmt.Sprintf("%d %s", k.Count, k.Kind))
		}
		parts = append(parts, l.what+": "+strings.Join(s, ", "))
	}
	return strings.Join(parts, "; ")
}

// kindName is how KindCount names p's kind.
func kindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// changesOf counts what iso does to the items of the backup.
func (iso *Isolation) changesOf(facts *tarballFacts) *Changes {
	c := &Changes{Workloads: iso.Workloads}
	applied := map[string]bool{}
	for _, p := range iso.applies() {
		applied[p.resource] = true
		n := facts.counts[p.resource]
		if n == 0 {
			continue
		}
		k := KindCount{Kind: kindName(p.group, p.kind), Count: n, Change: string(p.change)}
		if p.change == changeExcluded {
			c.NotRestored = append(c.NotRestored, k)
		} else {
			c.Modified = append(c.Modified, k)
		}
	}
	if n := len(facts.exposed); n > 0 {
		c.Modified = append(c.Modified, KindCount{Kind: servicePolicy.kind, Count: n, Change: string(servicePolicy.change)})
	}
	for _, p := range policies {
		if n := facts.counts[p.resource]; n > 0 && !applied[p.resource] {
			c.Ran = append(c.Ran, KindCount{Kind: kindName(p.group, p.kind), Count: n, Change: "allowed to run"})
		}
	}
	return c
}
