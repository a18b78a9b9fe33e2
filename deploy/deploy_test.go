// Package deploy holds the controller's manifests (a kustomization) and
// the tests that check them: the kustomization lists every generated file,
// the Deployment is hardened and admitted in a namespace enforcing the
// PodSecurity "restricted" level, and the RBAC grants no more than
// DESIGN.md allows.
package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

const (
	controllerNS   = "safekeep-system"
	veleroNS       = "velero"
	serviceAccount = "system:serviceaccount:safekeep-system:safekeep-controller"
)

// render runs `kubectl kustomize` on this folder and returns its objects.
func render(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	return testbed.Kustomize(t, ".")
}

// decode returns the objects of a multi-document YAML stream.
func decode(t *testing.T, out []byte) []*unstructured.Unstructured {
	t.Helper()
	return testbed.DecodeObjects(t, out)
}

// typed converts u into out.
func typed(t *testing.T, u *unstructured.Unstructured, out any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in the kustomization", kind, name)
	return nil
}

func TestKustomizationListsGenerated(t *testing.T) {
	data, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil { // only resources is read
		t.Fatal(err)
	}
	for _, dir := range []string{"crd", "rbac"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no generated files in %s/ (%v): run make generate", dir, err)
		}
		for _, f := range files {
			if !slices.Contains(k.Resources, f) {
				t.Errorf("kustomization.yaml does not list %s", f)
			}
		}
	}
	objs := render(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if ns := o.GetNamespace(); ns != "" && ns != controllerNS && ns != veleroNS {
			t.Errorf("%s %s lands in namespace %s", o.GetKind(), o.GetName(), ns)
		}
	}
	for kind, n := range map[string]int{"Namespace": 1, "CustomResourceDefinition": 3, "ClusterRole": 1, "Role": 2,
		"ClusterRoleBinding": 1, "RoleBinding": 2, "ServiceAccount": 1, "Deployment": 1, "NetworkPolicy": 1} {
		if kinds[kind] < n {
			t.Errorf("%d %s objects rendered, want at least %d", kinds[kind], kind, n)
		}
	}
}

func TestDeploymentHardened(t *testing.T) {
	var d appsv1.Deployment
	typed(t, find(t, render(t), "Deployment", "safekeep-controller"), &d)
	ps := d.Spec.Template.Spec
	if ps.SecurityContext == nil || ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot ||
		ps.SecurityContext.SeccompProfile == nil || ps.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", ps.SecurityContext)
	}
	if ps.HostNetwork || ps.HostPID || ps.HostIPC {
		t.Errorf("pod uses host namespaces")
	}
	for _, v := range ps.Volumes { // only memory-backed scratch space (drills' /tmp)
		if v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || v.EmptyDir.SizeLimit == nil {
			t.Errorf("pod volume %s: want only memory-backed emptyDirs with a size limit", v.Name)
		}
	}
	if *d.Spec.Replicas < 2 || !slices.Contains(ps.Containers[0].Args, "--leader-elect") {
		t.Errorf("want two replicas with --leader-elect, got %d, args %v", *d.Spec.Replicas, ps.Containers[0].Args)
	}
	for _, c := range ps.Containers {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Fatalf("container %s has no securityContext", c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("container %s: root filesystem is writable", c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("container %s: privilege escalation allowed", c.Name)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
			t.Errorf("container %s: capabilities %+v, want drop ALL", c.Name, sc.Capabilities)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("container %s is privileged", c.Name)
		}
		if c.Resources.Requests.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: resources %+v, want cpu and memory requests and a memory limit", c.Name, c.Resources)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("container %s: no liveness or readiness probe", c.Name)
		}
	}
}

// TestVolumeReaderImage checks that the controller's Level 2 volume
// reader runs the controller's own image: the kustomization's replacement
// sets --volume-reader-image to the container's image.
func TestVolumeReaderImage(t *testing.T) {
	var d appsv1.Deployment
	typed(t, find(t, render(t), "Deployment", "safekeep-controller"), &d)
	c := d.Spec.Template.Spec.Containers[0]
	if got, n := readerImage(c.Args); n != 1 || got != c.Image || !strings.Contains(got, "/") {
		t.Errorf("--volume-reader-image %q (%d times), want once the container's image %q", got, n, c.Image)
	}
}

// readerImage returns the value of --volume-reader-image in args and how
// many times it is given.
func readerImage(args []string) (string, int) {
	var v string
	n := 0
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "--volume-reader-image="); ok {
			v, n = s, n+1
		}
	}
	return v, n
}

// startBed starts a control plane with Velero's namespace and returns an
// admin client whose API warnings w collects.
func startBed(t *testing.T) (*testbed.ControlPlane, client.Client, *warnings) {
	t.Helper()
	cp := testbed.StartControlPlane(t)
	w := &warnings{}
	cfg := rest.CopyConfig(cp.Config)
	cfg.WarningHandler = w
	c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: veleroNS}}); err != nil {
		t.Fatal(err)
	}
	return cp, c, w
}

// warnings collects the API server's warnings.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// TestAppliedRestricted applies the kustomization to a real API server
// (envtest; PodSecurity admission runs in kube-apiserver) and checks that the
// controller's pod is admitted in its namespace, which enforces the
// restricted level, while a pod without the hardening is refused; then
// that the RBAC grants what the controller needs and no more.
func TestAppliedRestricted(t *testing.T) {
	objs := render(t)
	cp, c, w := startBed(t)
	ctx := t.Context()
	// Namespaces first, then the rest in the kustomization's order.
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolRank(a.GetKind() != "Namespace") - boolRank(b.GetKind() != "Namespace")
	})
	for _, o := range objs {
		if err := c.Create(ctx, o.DeepCopy()); err != nil {
			t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
		}
		if ws := w.take(); len(ws) > 0 {
			t.Errorf("apply %s %s: warnings %q", o.GetKind(), o.GetName(), ws)
		}
	}

	var ns corev1.Namespace
	if err := c.Get(ctx, client.ObjectKey{Name: controllerNS}, &ns); err != nil {
		t.Fatal(err)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Fatalf("namespace %s labels %v: want pod-security.kubernetes.io/enforce=restricted", controllerNS, ns.Labels)
	}
	var d appsv1.Deployment
	typed(t, find(t, objs, "Deployment", "safekeep-controller"), &d)

	t.Run("pod template restricted", func(t *testing.T) { checkRestricted(t, c, w, &d, controllerNS) })
	t.Run("least privilege", func(t *testing.T) { checkLeastPrivilege(t, c, objs) })
	t.Run("effective permissions", func(t *testing.T) { checkEffectiveRBAC(t, cp, c) })

	t.Run("drill scratch only", func(t *testing.T) { testDrillScratchOnly(t, cp, c) })
	t.Run("drill restores", func(t *testing.T) { testDrillRestores(t, cp, c) })
	t.Run("target policy", func(t *testing.T) { testTargetPolicy(t, cp, c) })
	t.Run("run-now values", func(t *testing.T) { testRunNowValues(t, c) })
}

// checkRestricted creates, with a dry run, a Pod built from d's template
// in ns, which enforces PodSecurity restricted: it must be admitted with no
// warning, and the same Pod without its securityContexts refused (the
// control that proves the check can fail).
func checkRestricted(t *testing.T, c client.Client, w *warnings, d *appsv1.Deployment, ns string) {
	t.Helper()
	ctx := t.Context()
	w.take() // earlier warnings are not this pod's
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "controller-pod", Labels: d.Spec.Template.Labels},
		Spec:       *d.Spec.Template.Spec.DeepCopy(),
	}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Fatalf("the Deployment's pod is refused in a restricted namespace: %v", err)
	}
	if ws := w.take(); len(ws) > 0 {
		t.Errorf("warnings for the Deployment's pod: %q", ws)
	}

	// The control: the same pod without its securityContexts must be
	// refused, or the test above proves nothing.
	spec := d.Spec.Template.Spec.DeepCopy()
	spec.SecurityContext = nil
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = nil
	}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unhardened"}, Spec: *spec}
	err := c.Create(ctx, bare, client.DryRunAll)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("unhardened pod: %v, want a PodSecurity refusal", err)
	}
	t.Logf("refused as it should be: %v", err)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "unhardened"}, Spec: *d.Spec.DeepCopy()}
	dep.Spec.Template.Spec = *spec
	if err := c.Create(ctx, dep, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if ws := w.take(); len(ws) == 0 || !strings.Contains(strings.Join(ws, " "), "would violate PodSecurity") {
		t.Errorf("an unhardened Deployment drew warnings %q, want PodSecurity's", ws)
	}
}

// checkLeastPrivilege asks the API server, with SubjectAccessReviews, what
// the controller's ServiceAccount may do: what it needs and no more.
func checkLeastPrivilege(t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := t.Context()
	tests := []struct {
		verb, group, resource, subresource, ns string
		allowed                                bool
	}{
		{"get", "", "secrets", "", controllerNS, true},
		{"watch", "", "secrets", "", controllerNS, true},
		{"get", "", "secrets", "", "default", false},
		{"list", "", "secrets", "", "", false}, // cluster-wide
		{"create", "", "secrets", "", controllerNS, false},
		{"update", "coordination.k8s.io", "leases", "", controllerNS, true},
		{"create", "coordination.k8s.io", "leases", "", "default", false},
		{"watch", "safekeep.dev", "offsitetargets", "", "", true},
		{"patch", "safekeep.dev", "offsitetargets", "status", "team-a", true},
		{"update", "safekeep.dev", "offsitetargets", "", "team-a", false}, // spec is the user's
		{"create", "events.k8s.io", "events", "", "team-a", true},
		{"create", "velero.io", "backups", "", veleroNS, true},
		{"create", "velero.io", "backups", "", "default", false},
		{"delete", "velero.io", "backupstoragelocations", "", veleroNS, false},
		{"create", "velero.io", "restores", "", "default", false},
		{"create", "", "pods", "", controllerNS, false},
		{"escalate", "rbac.authorization.k8s.io", "clusterroles", "", "", false},
		// Restore drills: scratch namespaces (the admission policy
		// narrows these to labelled ones: see "drill scratch only"),
		// their Velero objects, and reading only through the
		// RoleBinding the controller makes in each scratch namespace.
		{"create", "", "namespaces", "", "", true},
		{"delete", "", "namespaces", "", "", true},
		{"update", "", "namespaces", "", "", false},
		{"create", "rbac.authorization.k8s.io", "rolebindings", "", "team-a", true},
		{"delete", "rbac.authorization.k8s.io", "rolebindings", "", "team-a", false},
		{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", false},
		{"get", "", "configmaps", "", "team-a", false},
		{"list", "", "secrets", "", "team-a", false},
		{"create", "velero.io", "restores", "", veleroNS, true},
		{"delete", "velero.io", "backups", "", veleroNS, true},
		// Isolating scratch namespaces (the admission policy narrows these
		// to scratch namespaces) and each run's resource modifiers
		// ConfigMap, in Velero's namespace only.
		{"create", "networking.k8s.io", "networkpolicies", "", "team-a", true},
		{"delete", "networking.k8s.io", "networkpolicies", "", "team-a", false},
		{"create", "", "resourcequotas", "", "team-a", true},
		{"update", "", "resourcequotas", "", "team-a", false},
		{"create", "", "limitranges", "", "team-a", true},
		{"create", "", "configmaps", "", veleroNS, true},
		{"update", "", "configmaps", "", veleroNS, false},
		{"create", "", "configmaps", "", "team-a", false},
		{"patch", "safekeep.dev", "restoredrills", "status", "team-a", true},
		{"update", "safekeep.dev", "restoredrills", "", "team-a", false},
	}
	for _, tt := range tests {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   serviceAccount,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + controllerNS, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: tt.verb, Group: tt.group, Resource: tt.resource, Subresource: tt.subresource, Namespace: tt.ns,
			},
		}}
		if err := c.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tt.allowed {
			t.Errorf("%s %s.%s/%s in %q: allowed=%v, want %v (%s)", tt.verb, tt.resource, tt.group, tt.subresource, tt.ns,
				sar.Status.Allowed, tt.allowed, sar.Status.Reason)
		}
	}
	for _, tt := range []struct {
		role    string
		allowed bool
	}{{"safekeep-drill-reader", true}, {"cluster-admin", false}, {"admin", false}} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   serviceAccount,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + controllerNS, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: tt.role,
			},
		}}
		if err := c.Create(ctx, sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tt.allowed {
			t.Errorf("bind clusterrole %s: allowed=%v, want %v", tt.role, sar.Status.Allowed, tt.allowed)
		}
	}
	// No wildcard anywhere in the generated roles.
	for _, o := range objs {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "Role" {
			continue
		}
		var r rbacv1.ClusterRole // Role has the same rules shape
		typed(t, o, &r)
		for _, rule := range r.Rules {
			if slices.Contains(rule.Verbs, "*") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.APIGroups, "*") {
				t.Errorf("%s %s/%s grants a wildcard: %+v", o.GetKind(), o.GetNamespace(), o.GetName(), rule)
			}
		}
	}
}

// testRunNowValues: the admission policy lets safekeep.dev/run-now hold
// only an RFC 3339 time, on BackupSchedules and RestoreDrills.
func testRunNowValues(t *testing.T, c client.Client) {
	ctx := t.Context()
	objs := []client.Object{
		&v1alpha1.BackupSchedule{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "nightly"},
			Spec: v1alpha1.BackupScheduleSpec{Schedule: "@daily", OffsiteTargetRef: corev1.LocalObjectReference{Name: "offsite"}}},
		&v1alpha1.RestoreDrill{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "weekly"},
			Spec: v1alpha1.RestoreDrillSpec{Schedule: "@weekly", BackupScheduleRef: corev1.LocalObjectReference{Name: "nightly"},
				IdentitySecretRef: v1alpha1.SecretKeyRef{Name: "drill-identity"}, Staging: "staging"}},
	}
	annotate := func(o client.Object, v string) error {
		p := fmt.Appendf(nil, `{"metadata":{"annotations":{"safekeep.dev/run-now":%q}}}`, v)
		return c.Patch(ctx, o, client.RawPatch(types.MergePatchType, p))
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		// The policy is loaded asynchronously: wait for its first denial.
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := annotate(o, "true")
			if err != nil && strings.Contains(err.Error(), "must be an RFC 3339 time") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%T run-now \"true\": %v, want a refusal", o, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, bad := range []string{"yes", "now", "", "2026-01-31", "2026-01-31 08:00:00"} {
			if err := annotate(o, bad); err == nil || !strings.Contains(err.Error(), "must be an RFC 3339 time") {
				t.Errorf("%T run-now %q: %v, want a refusal", o, bad, err)
			}
		}
		for _, good := range []string{"2026-01-31T08:00:00Z", "2026-01-31T08:00:00.5+01:00"} {
			if err := annotate(o, good); err != nil {
				t.Errorf("%T run-now %q: %v", o, good, err)
			}
		}
	}
}

// testDrillScratchOnly acts as the controller's ServiceAccount and checks
// that the admission policy keeps its namespace and RoleBinding rights to
// drill scratch namespaces, which RBAC alone cannot do.
func testDrillScratchOnly(t *testing.T, cp *testbed.ControlPlane, admin client.Client) {
	ctx := t.Context()
	cfg := rest.CopyConfig(cp.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + controllerNS, "system:authenticated"},
	}
	sa, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	scratchLabels := map[string]string{"safekeep.dev/scratch": "true", "safekeep.dev/drill": "safekeep-system.weekly", "safekeep.dev/drill-run": "1"}
	victim := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "victim"}}
	if err := admin.Create(ctx, victim); err != nil {
		t.Fatal(err)
	}
	// The policy is loaded asynchronously: wait for its first denial.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := sa.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-scratch"}})
		if err != nil && strings.Contains(err.Error(), "drill scratch namespaces") {
			break
		}
		if err == nil {
			_ = admin.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "not-scratch"}})
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller created an unlabelled namespace: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	scratch := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "drill-weekly-1-phi", Labels: scratchLabels}}
	if err := sa.Create(ctx, scratch); err != nil {
		t.Fatalf("create a scratch namespace: %v", err)
	}
	binding := func(ns, role string) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "reader-" + role, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: controllerNS, Name: "safekeep-controller"}},
		}
	}
	if err := sa.Create(ctx, binding(scratch.Name, "safekeep-drill-reader")); err != nil {
		t.Errorf("bind the reader role in a scratch namespace: %v", err)
	}
	for _, obj := range isolation(scratch.Name) {
		if err := sa.Create(ctx, obj); err != nil {
			t.Errorf("isolate a scratch namespace: create %T: %v", obj, err)
		}
	}
	for _, tt := range []struct {
		what string
		do   func() error
	}{
		{"bind the reader role in another namespace", func() error { return sa.Create(ctx, binding(victim.Name, "safekeep-drill-reader")) }},
		{"bind cluster-admin in a scratch namespace", func() error { return sa.Create(ctx, binding(scratch.Name, "cluster-admin")) }},
		{"delete an unlabelled namespace", func() error { return sa.Delete(ctx, victim.DeepCopy()) }},
		{"create a NetworkPolicy in another namespace", func() error { return sa.Create(ctx, isolation(victim.Name)[0]) }},
		{"create a ResourceQuota in another namespace", func() error { return sa.Create(ctx, isolation(victim.Name)[1]) }},
		{"create a LimitRange in another namespace", func() error { return sa.Create(ctx, isolation(victim.Name)[2]) }},
	} {
		err := tt.do()
		if err == nil || (!apierrors.IsForbidden(err) && !apierrors.IsInvalid(err)) {
			t.Errorf("%s: %v, want a refusal", tt.what, err)
		} else {
			t.Logf("%s: refused: %v", tt.what, err)
		}
	}
	if err := sa.Delete(ctx, scratch.DeepCopy()); err != nil {
		t.Errorf("delete a scratch namespace: %v", err)
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isolation are a NetworkPolicy, a ResourceQuota and a LimitRange in ns,
// as a drill isolates its scratch namespaces.
func isolation(ns string) []client.Object {
	meta := metav1.ObjectMeta{Name: "safekeep-drill", Namespace: ns}
	return []client.Object{
		&networkingv1.NetworkPolicy{ObjectMeta: meta, Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}}},
		&corev1.ResourceQuota{ObjectMeta: meta, Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}},
		&corev1.LimitRange{ObjectMeta: meta, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}},
	}
}
