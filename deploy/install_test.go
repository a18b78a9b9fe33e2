package deploy

import (
	"slices"
	"testing"

	"filippo.io/age"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// TestHelmInstall installs the chart with helm into the test bed's API
// server, runs the PodSecurity and RBAC checks of the kustomize base on
// what Helm created, upgrades it with changed values, and uninstalls it:
// the CRDs and the custom resources stay.
func TestHelmInstall(t *testing.T) {
	cp, c, w := startBed(t)
	ctx := t.Context()
	helmOK := func(args ...string) {
		t.Helper()
		out, stderr, err := helm(t, append(args, "--kubeconfig", cp.Kubeconfig)...)
		if err != nil {
			t.Fatalf("helm %v: %v\n%s%s", args, err, out, stderr)
		}
	}
	helmOK("install", "safekeep", chartDir, "--namespace", controllerNS, "--create-namespace")

	var d appsv1.Deployment
	if err := c.Get(ctx, client.ObjectKey{Namespace: controllerNS, Name: "safekeep-controller"}, &d); err != nil {
		t.Fatalf("after helm install: %v", err)
	}
	if *d.Spec.Replicas != 2 || d.Labels["app.kubernetes.io/managed-by"] != "Helm" {
		t.Errorf("Deployment replicas %d labels %v: want 2, managed by Helm", *d.Spec.Replicas, d.Labels)
	}
	// A restricted namespace to admit the pod template in: Helm's
	// --create-namespace makes one with no PodSecurity labels.
	restricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted-check",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}}}
	if err := c.Create(ctx, restricted); err != nil {
		t.Fatal(err)
	}
	t.Run("pod template restricted", func(t *testing.T) { checkRestricted(t, c, w, &d, restricted.Name) })
	rendered := helmTemplate(t)
	t.Run("least privilege", func(t *testing.T) { checkLeastPrivilege(t, c, rendered) })
	t.Run("effective permissions", func(t *testing.T) { checkEffectiveRBAC(t, cp, c) })
	t.Run("drill scratch only", func(t *testing.T) { testDrillScratchOnly(t, cp, c) })

	// Configuration lives in custom resources: they must survive.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	target := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "offsite"},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3:                  v1alpha1.S3Location{Endpoint: "https://s3.example.com", Bucket: "offsite"},
			Recipients:          []string{id.Recipient().String()},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
		},
	}
	if err := c.Create(ctx, target); err != nil {
		t.Fatalf("create an OffsiteTarget: %v", err)
	}

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "backup"}}); err != nil {
		t.Fatal(err)
	}
	helmOK("upgrade", "safekeep", chartDir, "--namespace", controllerNS,
		"--set", "replicaCount=1,networkPolicy.enabled=false,velero.namespace=backup", "--set-json", `extraArgs=["--target-check-interval=10m"]`)
	if err := c.Get(ctx, client.ObjectKeyFromObject(&d), &d); err != nil {
		t.Fatal(err)
	}
	args := d.Spec.Template.Spec.Containers[0].Args
	if *d.Spec.Replicas != 1 || !slices.Contains(args, "--target-check-interval=10m") || !slices.Contains(args, "--velero-namespace=backup") {
		t.Errorf("after upgrade: replicas %d args %v", *d.Spec.Replicas, args)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: controllerNS, Name: "safekeep-controller"}, &networkingv1.NetworkPolicy{}); !apierrors.IsNotFound(err) {
		t.Errorf("NetworkPolicy after networkPolicy.enabled=false: %v, want not found", err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: veleroNS, Name: "safekeep-controller"}, &rbacv1.Role{}); !apierrors.IsNotFound(err) {
		t.Errorf("Role in %s after moving Velero's namespace: %v, want not found", veleroNS, err)
	}

	helmOK("uninstall", "safekeep", "--namespace", controllerNS)
	for _, gone := range []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "safekeep-controller"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: controllerNS, Name: "safekeep-controller"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "safekeep-controller"}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "safekeep-controller"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "backup", Name: "safekeep-controller"}},
	} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(gone), gone); !apierrors.IsNotFound(err) {
			t.Errorf("%T %s after uninstall: %v, want not found", gone, gone.GetName(), err)
		}
	}
	for _, crd := range []string{"offsitetargets", "backupschedules", "offsitebackups", "restoredrills"} {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
		if err := c.Get(ctx, client.ObjectKey{Name: crd + ".safekeep.dev"}, meta); err != nil {
			t.Errorf("CRD %s after uninstall: %v, want kept", crd, err)
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(target), target); err != nil {
		t.Errorf("OffsiteTarget after uninstall: %v, want kept", err)
	}
}
