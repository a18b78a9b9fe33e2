package drill

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WorkloadsMode says whether restored workloads may run.
type WorkloadsMode string

const (
	// WorkloadsInert restores every workload so that nothing runs: see
	// Isolation. The zero value means WorkloadsInert.
	WorkloadsInert WorkloadsMode = "Inert"
	// WorkloadsIsolated lets the kinds of Isolation.Run run (and the
	// verification Job), under the default-deny NetworkPolicy; the rest
	// is inert.
	WorkloadsIsolated WorkloadsMode = "Isolated"
)

// Kinds that can start pods, as Isolation.Run names them.
const (
	KindPod                   = "Pod"
	KindDeployment            = "Deployment"
	KindStatefulSet           = "StatefulSet"
	KindReplicaSet            = "ReplicaSet"
	KindReplicationController = "ReplicationController"
	KindDaemonSet             = "DaemonSet"
	KindJob                   = "Job"
	KindCronJob               = "CronJob"
)

// RunnableKinds lists the kinds Isolation.Run may name.
var RunnableKinds = []string{KindPod, KindDeployment, KindStatefulSet, KindReplicaSet, KindReplicationController, KindDaemonSet, KindJob, KindCronJob}

// PodSecurity levels (the pod-security.kubernetes.io/enforce label).
const (
	PodSecurityRestricted = "restricted"
	PodSecurityBaseline   = "baseline"
)

// Names of the objects Run creates in each scratch namespace.
const (
	NetworkPolicyName = "safekeep-deny-all"
	ResourceQuotaName = "safekeep-drill"
	LimitRangeName    = "safekeep-drill"
)

// Isolation makes a restore safe on a live cluster. Each destination
// namespace is created by Run (Options.CreateNamespaces is implied) with a
// default-deny NetworkPolicy for ingress and egress, a ResourceQuota, a
// LimitRange and PodSecurity labels, before the Restore exists; and the
// Restore changes what it restores through Velero resource modifiers so
// that nothing acts or can be reached (docs/drill.md, "What a drill
// changes in your cluster"). The zero value is the safest: inert, no DNS,
// default quota and limits, restricted.
type Isolation struct {
	// Workloads is Inert ("" too) or Isolated.
	Workloads WorkloadsMode
	// Run are the kinds (RunnableKinds) that keep their replicas, are not
	// suspended and are restored, with WorkloadsIsolated; ignored with
	// WorkloadsInert.
	Run []string
	// AllowDNS lets pods reach the cluster DNS (UDP and TCP port 53 in
	// any namespace); nothing else leaves the namespace.
	AllowDNS bool
	// Quota is the ResourceQuota's hard limits; nil means DefaultQuota.
	Quota corev1.ResourceList
	// LimitDefault and LimitDefaultRequest are the LimitRange's container
	// defaults; nil means DefaultLimits and DefaultRequests.
	LimitDefault, LimitDefaultRequest corev1.ResourceList
	// PodSecurity is the PodSecurity level enforced; "" means restricted.
	PodSecurity string
}

// DefaultQuota is the ResourceQuota of a scratch namespace unless the
// drill sets one: compute for a few small pods, counted on pods only (a
// quota on other kinds would refuse them until the cluster's quota
// controller has counted the namespace).
func DefaultQuota() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourcePods:           resource.MustParse("10"),
		corev1.ResourceRequestsCPU:    resource.MustParse("2"),
		corev1.ResourceRequestsMemory: resource.MustParse("4Gi"),
		corev1.ResourceLimitsCPU:      resource.MustParse("4"),
		corev1.ResourceLimitsMemory:   resource.MustParse("8Gi"),
	}
}

// DefaultLimits are a container's limits when it sets none.
func DefaultLimits() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}
}

// DefaultRequests are a container's requests when it sets none.
func DefaultRequests() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
}

// withDefaults checks the isolation and fills in defaults.
func (iso Isolation) withDefaults() (Isolation, error) {
	switch iso.Workloads {
	case "":
		iso.Workloads = WorkloadsInert
	case WorkloadsInert, WorkloadsIsolated:
	default:
		return iso, fmt.Errorf("%w: Isolation.Workloads %q: want Inert or Isolated", ErrInvalidOptions, iso.Workloads)
	}
	for _, k := range iso.Run {
		if !slices.Contains(RunnableKinds, k) {
			return iso, fmt.Errorf("%w: Isolation.Run names %q: want one of %s", ErrInvalidOptions, k, strings.Join(RunnableKinds, ", "))
		}
	}
	if iso.Workloads == WorkloadsInert {
		iso.Run = nil
	}
	switch iso.PodSecurity {
	case "":
		iso.PodSecurity = PodSecurityRestricted
	case PodSecurityRestricted, PodSecurityBaseline:
	default:
		return iso, fmt.Errorf("%w: Isolation.PodSecurity %q: want restricted or baseline", ErrInvalidOptions, iso.PodSecurity)
	}
	if iso.Quota == nil {
		iso.Quota = DefaultQuota()
	}
	if iso.LimitDefault == nil {
		iso.LimitDefault = DefaultLimits()
	}
	if iso.LimitDefaultRequest == nil {
		iso.LimitDefaultRequest = DefaultRequests()
	}
	return iso, nil
}

// runs reports whether kind is allowed to run.
func (iso *Isolation) runs(kind string) bool {
	return iso != nil && iso.Workloads == WorkloadsIsolated && slices.Contains(iso.Run, kind)
}

// namespaceLabels are the PodSecurity labels of a scratch namespace.
func (iso *Isolation) namespaceLabels() map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce":         iso.PodSecurity,
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            iso.PodSecurity,
		"pod-security.kubernetes.io/audit":           iso.PodSecurity,
	}
}

// objects are what isolates namespace ns, in the order they are created:
// the NetworkPolicy first.
func (iso *Isolation) objects(ns string, labels map[string]string) []client.Object {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, Labels: maps.Clone(labels)}
	}
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: meta(NetworkPolicyName),
		Spec: networkingv1.NetworkPolicySpec{
			// Every pod; no ingress rule and no egress rule but DNS: all
			// other traffic in and out is denied.
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
		},
	}
	if iso.AllowDNS {
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{
			To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}},
			Ports: []networkingv1.NetworkPolicyPort{
				{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
				{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
			},
		}}
	}
	return []client.Object{
		np,
		&corev1.ResourceQuota{ObjectMeta: meta(ResourceQuotaName), Spec: corev1.ResourceQuotaSpec{Hard: iso.Quota.DeepCopy()}},
		&corev1.LimitRange{ObjectMeta: meta(LimitRangeName), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        iso.LimitDefault.DeepCopy(),
			DefaultRequest: iso.LimitDefaultRequest.DeepCopy(),
		}}}},
	}
}

// quotaCountTimeout bounds the wait for the cluster's quota controller to
// count a new scratch namespace's ResourceQuota.
const quotaCountTimeout = 15 * time.Second

// isolate creates the isolating objects in namespace ns. When pods may
// run, it then waits (bounded) for the quota controller to have counted
// the ResourceQuota: until it has, admission refuses every pod ("status
// unknown for quota"). If it never does, the restore goes ahead and such
// refusals show as restore errors.
func (r *runner) isolate(ctx context.Context, ns string, labels map[string]string) error {
	for _, obj := range r.opts.Isolation.objects(ns, labels) {
		if err := r.opts.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("isolate namespace %s: create %s %s: %w", ns, kindOf(obj), obj.GetName(), err)
		}
	}
	if r.opts.Isolation.Workloads != WorkloadsIsolated {
		return nil
	}
	q := &corev1.ResourceQuota{}
	key := client.ObjectKey{Namespace: ns, Name: ResourceQuotaName}
	err := wait.PollUntilContextTimeout(ctx, pollInterval, quotaCountTimeout, true, func(ctx context.Context) (bool, error) {
		if err := r.opts.Client.Get(ctx, key, q); err != nil {
			return false, nil // transient: the next poll tries again
		}
		return q.Status.Hard != nil, nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // not counted in time: go ahead, as documented
	return nil
}

// kindOf names obj's Go type as a kind: "NetworkPolicy".
func kindOf(obj client.Object) string {
	t := fmt.Sprintf("%T", obj)
	return t[strings.LastIndex(t, ".")+1:]
}
