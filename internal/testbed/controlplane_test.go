package testbed

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	safekeepv1alpha1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
)

func TestStartControlPlane(t *testing.T) {
	// envtest must use bin/ and start its own control plane whatever the
	// environment says: these would make it look elsewhere or skip the start.
	t.Setenv("KUBEBUILDER_ASSETS", filepath.Join(t.TempDir(), "nothing-here"))
	t.Setenv("TEST_ASSET_KUBE_APISERVER", filepath.Join(t.TempDir(), "no-apiserver"))
	t.Setenv("USE_EXISTING_CLUSTER", "true")

	cp := StartControlPlane(t, WithCRDs(filepath.Join(RepoRoot(t), "deploy", "crd")))
	ctx := t.Context()

	t.Run("kubeconfig reaches the API server", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig)
		if err != nil {
			t.Fatalf("load %s: %v", cp.Kubeconfig, err)
		}
		c, err := client.New(cfg, client.Options{Scheme: cp.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(ctx, client.ObjectKey{Name: "default"}, ns); err != nil {
			t.Fatalf("get namespace default through the kubeconfig: %v", err)
		}
	})

	t.Run("CRDs from options are served", func(t *testing.T) {
		in := &safekeepv1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Name: "offsite", Namespace: "default"},
			Spec: safekeepv1alpha1.OffsiteTargetSpec{
				S3:                  safekeepv1alpha1.S3Location{Endpoint: "http://127.0.0.1:7070", Bucket: "offsite"},
				Recipients:          []string{"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
				SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
			},
		}
		if err := cp.Client.Create(ctx, in); err != nil {
			t.Fatalf("create OffsiteTarget: %v", err)
		}
		out := &safekeepv1alpha1.OffsiteTarget{}
		if err := cp.Client.Get(ctx, client.ObjectKeyFromObject(in), out); err != nil {
			t.Fatalf("get OffsiteTarget: %v", err)
		}
		if out.Spec.S3.Bucket != "offsite" {
			t.Errorf("bucket = %q, want offsite", out.Spec.S3.Bucket)
		}
	})
}
