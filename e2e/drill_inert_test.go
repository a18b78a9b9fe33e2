package e2e

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
)

const (
	inertSource = "inert-src"
	inertBackup = "inert-b1"
)

var httpRouteGVK = schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}

// TestDrillInert drills, on the real API server and Velero, a backup of a
// PHI-like app holding everything that could act or be reached once
// restored (Deployment, StatefulSet, CronJob, Job, DaemonSet, LoadBalancer
// Service, Ingress, HTTPRoute, HPA, validating webhook): every workload
// comes back at 0 replicas or suspended, nothing is exposed or routed, no
// webhook appears, the scratch namespace was isolated before the Restore
// existed, the source is untouched, and the drill passes.
func TestDrillInert(t *testing.T) {
	dir := t.TempDir()
	crd, err := yaml.Marshal(sample.HTTPRouteCRD())
	if err != nil {
		t.Fatal(err)
	}
	b := startBed(t, bedSpec{
		buckets: map[string]bool{drillOffsite: false}, staging: []string{drillStaging},
		crdPaths: []string{writeFile(t, dir, "httproute-crd.yaml", string(crd))},
	})
	ctx := t.Context()
	d := &drillBed{bed: b}
	d.offsite = sealtest.OpenStore(t, b.s3.Config(drillOffsite, "drills/safekeep/v1"))
	d.staging = sealtest.OpenStore(t, b.s3.Config(drillStaging, ""))
	d.recipients, d.ids, d.idText = sealtest.NewKeys(t)
	d.signer = sealtest.NewSigner(t)
	createWorkload(t, b.cp.Client, inertSource, "PHI-MARKER-"+randomHex(t, 8))
	for _, obj := range sample.ActiveApp(inertSource) {
		if err := b.cp.Client.Create(ctx, obj); err != nil {
			t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
		}
	}
	bk := b.velero.Backup(t, ctx, inertBackup, velerov1.BackupSpec{
		IncludedNamespaces:             []string{inertSource},
		IncludedClusterScopedResources: []string{"validatingwebhookconfigurations.admissionregistration.k8s.io"},
	})
	if bk.Status.Phase != velerov1.BackupPhaseCompleted {
		t.Fatalf("Velero backup phase = %s, want Completed", bk.Status.Phase)
	}
	d.seal(t, drillSchedule, inertBackup)
	before := inertSourceState(t, b.cp.Client)

	t.Run("inert by default", func(t *testing.T) { testDrillInertDefault(t, d) })
	t.Run("isolated: allowed kinds and the verification Job run under the policy", func(t *testing.T) { testDrillIsolated(t, d) })
	t.Run("source namespace untouched", func(t *testing.T) {
		if after := inertSourceState(t, b.cp.Client); !maps.Equal(before, after) {
			t.Errorf("the source changed:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// inertOptions are the options of an isolated drill of the inert backup.
func (d *drillBed) inertOptions(run string, iso drill.Isolation) drill.Options {
	opts := d.options(drillSchedule, run)
	opts.Backup = inertBackup
	opts.StagedName = "drill-inert-" + run
	opts.MapNamespace = func(ns string) string { return drill.ScratchNamespace(drillScratchPf, "inert", run, ns) }
	opts.CreateNamespaces = false // implied by Isolation
	opts.Isolation = &iso
	return opts
}

func testDrillInertDefault(t *testing.T, d *drillBed) {
	ctx := t.Context()
	c := d.cp.Client
	order := watchCreations(t, d.cp)
	opts := d.inertOptions("inert", drill.Isolation{})
	res := d.run(t, opts)
	wantChecks(t, res)
	scratch := res.Namespaces[inertSource]
	if scratch == "" {
		t.Fatalf("namespaces %v", res.Namespaces)
	}

	t.Run("isolated before the Restore existed", func(t *testing.T) {
		seen := order()
		rs, ok := seen["Restore "+testbed.VeleroNamespace+"/"+opts.StagedName]
		if !ok {
			t.Fatalf("the Restore's creation was not seen: %v", seen)
		}
		for _, what := range []string{"NetworkPolicy " + drill.NetworkPolicyName, "ResourceQuota " + drill.ResourceQuotaName, "LimitRange " + drill.LimitRangeName} {
			kind, name, _ := strings.Cut(what, " ")
			rv, ok := seen[kind+" "+scratch+"/"+name]
			switch {
			case !ok:
				t.Errorf("%s was never created in %s", what, scratch)
			case rv >= rs:
				t.Errorf("%s created at resourceVersion %d, after the Restore (%d)", what, rv, rs)
			}
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: scratch}, ns); err != nil {
			t.Fatal(err)
		}
		if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("namespace labels %v: want PodSecurity restricted enforced", ns.Labels)
		}
		np := &networkingv1.NetworkPolicy{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: drill.NetworkPolicyName}, np); err != nil {
			t.Fatal(err)
		}
		if len(np.Spec.PodSelector.MatchLabels) != 0 || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 || len(np.Spec.PolicyTypes) != 2 {
			t.Errorf("NetworkPolicy does not deny all traffic of every pod: %+v", np.Spec)
		}
	})

	t.Run("workloads at 0 replicas or suspended", func(t *testing.T) {
		dep, sts := &appsv1.Deployment{}, &appsv1.StatefulSet{}
		cj, job := &batchv1.CronJob{}, &batchv1.Job{}
		for _, o := range []struct {
			obj  client.Object
			name string
		}{{dep, sample.DeploymentName}, {sts, sample.StatefulSetName}, {cj, sample.CronJobName}, {job, sample.JobName}} {
			if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: o.name}, o.obj); err != nil {
				t.Fatalf("restored %T %s: %v", o.obj, o.name, err)
			}
		}
		if r := dep.Spec.Replicas; r == nil || *r != 0 {
			t.Errorf("Deployment replicas %v, want 0", ptr.Deref(r, -1))
		}
		if r := sts.Spec.Replicas; r == nil || *r != 0 {
			t.Errorf("StatefulSet replicas %v, want 0", ptr.Deref(r, -1))
		}
		if s := cj.Spec.Suspend; s == nil || !*s {
			t.Errorf("CronJob suspend %v, want true", ptr.Deref(s, false))
		}
		if s := job.Spec.Suspend; s == nil || !*s {
			t.Errorf("Job suspend %v, want true", ptr.Deref(s, false))
		}
		// The pod template is restored as backed up.
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:1.0" {
			t.Errorf("Deployment image %s", img)
		}
		wantNone(t, c, &appsv1.DaemonSetList{}, scratch)
		wantNone(t, c, &corev1.PodList{}, scratch)
	})

	t.Run("nothing exposed or routed", func(t *testing.T) {
		var svcs corev1.ServiceList
		if err := c.List(ctx, &svcs, client.InNamespace(scratch)); err != nil {
			t.Fatal(err)
		}
		if len(svcs.Items) != 2 {
			t.Errorf("%d Services restored, want 2", len(svcs.Items))
		}
		for _, s := range svcs.Items {
			if s.Spec.Type != corev1.ServiceTypeClusterIP || len(s.Spec.ExternalIPs) > 0 || s.Spec.HealthCheckNodePort != 0 || slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.NodePort != 0 }) {
				t.Errorf("Service %s is exposed: %+v", s.Name, s.Spec)
			}
		}
		pub := &corev1.Service{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: sample.PublicServiceName}, pub); err != nil {
			t.Fatal(err)
		}
		if len(pub.Spec.Ports) != 1 || pub.Spec.Ports[0].Port != 443 || pub.Spec.Ports[0].TargetPort.IntValue() != 8443 {
			t.Errorf("public Service ports %+v, want 443 -> 8443", pub.Spec.Ports)
		}
		wantNone(t, c, &networkingv1.IngressList{}, scratch)
		wantNone(t, c, &autoscalingv2.HorizontalPodAutoscalerList{}, scratch)
		routes := &metav1.PartialObjectMetadataList{}
		routes.SetGroupVersionKind(httpRouteGVK.GroupVersion().WithKind("HTTPRouteList"))
		wantNone(t, c, routes, scratch)
		// Cluster-wide: nothing this restore created, and only the source's
		// webhook.
		var hooks admissionregistrationv1.ValidatingWebhookConfigurationList
		if err := c.List(ctx, &hooks); err != nil {
			t.Fatal(err)
		}
		for _, h := range hooks.Items {
			if h.Labels[velerov1.RestoreNameLabel] != "" || h.Name != sample.WebhookName {
				t.Errorf("webhook configuration %s (labels %v) appeared", h.Name, h.Labels)
			}
		}
		for _, l := range []client.ObjectList{&networkingv1.IngressList{}, routes, &admissionregistrationv1.MutatingWebhookConfigurationList{}} {
			if err := c.List(ctx, l, client.MatchingLabels{velerov1.RestoreNameLabel: opts.StagedName}); err != nil {
				t.Fatal(err)
			}
			if n := len(mustItems(t, l)); n > 0 {
				t.Errorf("%T: %d objects of the drill's Restore exist", l, n)
			}
		}
	})

	t.Run("the verdict records the changes, by kind only", func(t *testing.T) {
		got := res.Changes.Summary()
		for _, want := range []string{"workloads Inert", "1 Deployment.apps", "1 StatefulSet.apps", "1 CronJob.batch", "1 Job.batch", "1 Service",
			"1 DaemonSet.apps", "1 Ingress.networking.k8s.io", "1 HTTPRoute.gateway.networking.k8s.io", "1 HorizontalPodAutoscaler.autoscaling",
			"1 ValidatingWebhookConfiguration.admissionregistration.k8s.io"} {
			if !strings.Contains(got, want) {
				t.Errorf("changes %q lack %q", got, want)
			}
		}
		if strings.Contains(got, "ran:") {
			t.Errorf("an inert drill let something run: %s", got)
		}
		content, _ := res.Check(drill.CheckContent)
		presence, _ := res.Check(drill.CheckPresence)
		if !strings.Contains(content.Message, "not compared: 1 Deployment.apps (scaled to 0 replicas)") {
			t.Errorf("content check does not name what it did not compare: %q", content.Message)
		}
		if !strings.Contains(presence.Message, "not looked for") || !strings.Contains(presence.Message, "1 HTTPRoute.gateway.networking.k8s.io") {
			t.Errorf("presence check does not name what was left out: %q", presence.Message)
		}
	})

	t.Run("cleanup removes the modifiers ConfigMap", func(t *testing.T) {
		key := client.ObjectKey{Namespace: testbed.VeleroNamespace, Name: opts.StagedName}
		if err := c.Get(ctx, key, &corev1.ConfigMap{}); err != nil {
			t.Fatalf("resource modifiers ConfigMap during the run: %v", err)
		}
		if err := drill.Cleanup(ctx, drill.CleanupFor(opts)); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, key, &corev1.ConfigMap{}); !apierrors.IsNotFound(err) {
			t.Errorf("resource modifiers ConfigMap after cleanup: %v, want not found", err)
		}
	})
}

// testDrillIsolated lets Deployments run: the Deployment keeps its
// replicas, the rest stays inert, and the verification Job runs in the
// scratch namespace under the default-deny policy. The test bed's fake
// kubelet (testbed.FakeKubelet) runs the Job's pod only when a deny-all
// NetworkPolicy selects it; without isolation it fails the pod, and the
// job check fails.
func testDrillIsolated(t *testing.T, d *drillBed) {
	ctx := t.Context()
	c := d.cp.Client
	kubelet := testbed.StartFakeKubelet(t, d.cp, map[string]string{drillLabel: "engine", drill.LabelScratch: "true"})
	opts := d.inertOptions("iso", drill.Isolation{Workloads: drill.WorkloadsIsolated, Run: []string{drill.KindDeployment}, AllowDNS: true})
	opts.Job = &drill.JobSpec{Image: "registry.example/verify:1", Command: []string{"/verify"}, Timeout: time.Minute}
	res := d.run(t, opts)
	wantChecks(t, res)
	scratch := res.Namespaces[inertSource]
	runs := kubelet.Runs()
	if len(runs) != 1 || runs[0].Namespace != scratch || !runs[0].Isolated || runs[0].Policy != drill.NetworkPolicyName {
		t.Errorf("pods run: %+v, want the verification Job's in %s, isolated by %s", runs, scratch, drill.NetworkPolicyName)
	}

	// The same Job in a namespace without the policy (no Isolation, as
	// drills ran before) is refused by the fake kubelet: the check above
	// could fail.
	bare := d.options(drillSchedule, "bare")
	bare.Backup, bare.StagedName = inertBackup, "drill-inert-bare"
	bare.MapNamespace = func(ns string) string { return drill.ScratchNamespace(drillScratchPf, "inert", "bare", ns) }
	bare.Job = opts.Job
	bareRes := d.run(t, bare)
	// (Without isolation the restore itself fails too: Velero keeps the
	// explicit node port of the LoadBalancer Service, which the source
	// holds already.)
	if c, _ := bareRes.Check(drill.CheckJob); c.Passed || !strings.Contains(c.Message, "no NetworkPolicy isolates it") {
		t.Errorf("job check without isolation: %+v, want failed for want of a NetworkPolicy", c)
	}
	if runs := kubelet.Runs(); !slices.ContainsFunc(runs, func(r testbed.PodRun) bool { return r.Namespace == bareRes.Namespaces[inertSource] && !r.Isolated }) {
		t.Errorf("pods run: %+v, want the unisolated one refused", runs)
	}
	dep, sts := &appsv1.Deployment{}, &appsv1.StatefulSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: sample.DeploymentName}, dep); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: sample.StatefulSetName}, sts); err != nil {
		t.Fatal(err)
	}
	if r := dep.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("Deployment replicas %v, want 1 (allowed to run)", ptr.Deref(r, -1))
	}
	if r := sts.Spec.Replicas; r == nil || *r != 0 {
		t.Errorf("StatefulSet replicas %v, want 0", ptr.Deref(r, -1))
	}
	job := &batchv1.Job{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: drill.JobName}, job); err != nil {
		t.Fatal(err)
	}
	np := &networkingv1.NetworkPolicy{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: scratch, Name: drill.NetworkPolicyName}, np); err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(job.Spec.Template.Labels)) || len(np.Spec.Ingress) != 0 {
		t.Errorf("the verification Job's pods are not under the deny-all policy: %+v", np.Spec)
	}
	if len(np.Spec.Egress) != 1 || len(np.Spec.Egress[0].Ports) != 2 || np.Spec.Egress[0].Ports[0].Port.IntValue() != 53 {
		t.Errorf("AllowDNS: egress %+v, want DNS only", np.Spec.Egress)
	}
	got := res.Changes.Summary()
	for _, want := range []string{"workloads Isolated", "ran: 1 Deployment.apps, 1 Job.batch", "1 StatefulSet.apps"} {
		if !strings.Contains(got, want) {
			t.Errorf("changes %q lack %q", got, want)
		}
	}
}

// watchCreations watches NetworkPolicies, ResourceQuotas and LimitRanges
// everywhere and Restores in Velero's namespace, and returns a func giving
// the resourceVersion each was created at ("<Kind> <ns>/<name>"): one etcd
// here, so creation order is resourceVersion order.
func watchCreations(t *testing.T, cp *testbed.ControlPlane) func() map[string]int64 {
	t.Helper()
	wc, err := client.NewWithWatch(cp.Config, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	seen := map[string]int64{}
	var wg sync.WaitGroup
	for _, w := range []struct {
		kind string
		list client.ObjectList
		opts []client.ListOption
	}{
		{"NetworkPolicy", &networkingv1.NetworkPolicyList{}, nil},
		{"ResourceQuota", &corev1.ResourceQuotaList{}, nil},
		{"LimitRange", &corev1.LimitRangeList{}, nil},
		{"Restore", &velerov1.RestoreList{}, []client.ListOption{client.InNamespace(testbed.VeleroNamespace)}},
	} {
		wi, err := wc.Watch(ctx, w.list, w.opts...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer wi.Stop()
			for ev := range wi.ResultChan() {
				if ev.Type != watch.Added {
					continue
				}
				obj, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				rv, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
				if err != nil {
					continue
				}
				mu.Lock()
				key := w.kind + " " + obj.GetNamespace() + "/" + obj.GetName()
				if _, dup := seen[key]; !dup {
					seen[key] = rv
				}
				mu.Unlock()
			}
		})
	}
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return func() map[string]int64 {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

// wantNone fails the test if namespace ns holds any object of list's kind.
func wantNone(t *testing.T, c client.Client, list client.ObjectList, ns string) {
	t.Helper()
	if err := c.List(t.Context(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if items := mustItems(t, list); len(items) > 0 {
		t.Errorf("%T in %s: %d objects restored, want none", list, ns, len(items))
	}
}

// mustItems returns list's items.
func mustItems(t *testing.T, list client.ObjectList) []client.Object {
	t.Helper()
	var out []client.Object
	switch l := list.(type) {
	case *metav1.PartialObjectMetadataList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
		return out
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if o, ok := it.(client.Object); ok {
			out = append(out, o)
		}
	}
	return out
}

// inertSourceState is every object of the source namespace and the
// source's webhook, by kind/name, with its resourceVersion.
func inertSourceState(t *testing.T, c client.Client) map[string]string {
	t.Helper()
	state := map[string]string{}
	for _, gvk := range []schema.GroupVersionKind{
		corev1.SchemeGroupVersion.WithKind("ConfigMap"), corev1.SchemeGroupVersion.WithKind("Secret"),
		corev1.SchemeGroupVersion.WithKind("Service"), corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"),
		appsv1.SchemeGroupVersion.WithKind("Deployment"), appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
		appsv1.SchemeGroupVersion.WithKind("DaemonSet"), batchv1.SchemeGroupVersion.WithKind("CronJob"),
		batchv1.SchemeGroupVersion.WithKind("Job"), networkingv1.SchemeGroupVersion.WithKind("Ingress"),
		autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), httpRouteGVK,
	} {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(t.Context(), list, client.InNamespace(inertSource)); err != nil {
			t.Fatal(err)
		}
		for _, it := range list.Items {
			state[gvk.Kind+"/"+it.Name] = it.ResourceVersion
		}
	}
	hook := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: sample.WebhookName}, hook); err != nil {
		t.Fatal(err)
	}
	state["ValidatingWebhookConfiguration/"+hook.Name] = hook.ResourceVersion
	if len(state) < 14 {
		t.Fatalf("the source holds %d objects, want at least 14: %v", len(state), state)
	}
	return state
}
