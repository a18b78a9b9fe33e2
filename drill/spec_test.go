package drill

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

func TestIsolationFor(t *testing.T) {
	w := v1alpha1.DrillWorkloads{
		Mode: v1alpha1.DrillWorkloadsIsolated, Run: []v1alpha1.DrillRunnableKind{"StatefulSet"}, AllowDNS: true,
		Quota:       corev1.ResourceList{corev1.ResourcePods: resource.MustParse("3")},
		Limits:      v1alpha1.DrillLimits{Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		PodSecurity: PodSecurityBaseline,
	}
	iso, err := IsolationFor(w).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if iso.Workloads != WorkloadsIsolated || !slices.Equal(iso.Run, []string{KindStatefulSet}) || !iso.AllowDNS || iso.PodSecurity != PodSecurityBaseline ||
		!iso.Quota.Pods().Equal(resource.MustParse("3")) || !iso.LimitDefault.Cpu().Equal(resource.MustParse("1")) || iso.LimitDefaultRequest == nil {
		t.Errorf("IsolationFor(%+v) = %+v", w, iso)
	}
	// Every kind the API accepts is one the engine knows.
	for _, k := range []v1alpha1.DrillRunnableKind{"Pod", "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "DaemonSet", "Job", "CronJob"} {
		if !slices.Contains(RunnableKinds, string(k)) {
			t.Errorf("the API's kind %s is not in RunnableKinds", k)
		}
	}
	// An empty spec (defaults not applied, as in a unit test) is inert.
	if iso, err := IsolationFor(v1alpha1.DrillWorkloads{}).withDefaults(); err != nil || iso.Workloads != WorkloadsInert || iso.PodSecurity != PodSecurityRestricted {
		t.Errorf("empty workloads: %+v, %v", iso, err)
	}
}

func TestChangesRecords(t *testing.T) {
	c := &Changes{Workloads: WorkloadsInert, Modified: []KindCount{{"Deployment.apps", 2, string(changeScaled)}}, NotRestored: []KindCount{{"Ingress.networking.k8s.io", 1, string(changeExcluded)}}}
	st := c.Status()
	a := AuditOf(st)
	if st.Mode != v1alpha1.DrillWorkloadsInert || len(st.Modified) != 1 || st.Modified[0].Count != 2 || len(st.NotRestored) != 1 || st.Ran != nil {
		t.Errorf("status %+v", st)
	}
	if a.Mode != "Inert" || len(a.Modified) != 1 || a.Modified[0].Kind != "Deployment.apps" || a.Modified[0].Count != 2 || a.NotRestored[0].Change != "not restored" {
		t.Errorf("audit %+v", a)
	}
	if (*Changes)(nil).Status() != nil || AuditOf(nil) != nil {
		t.Errorf("nil changes recorded as something")
	}
}
