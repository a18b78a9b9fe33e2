package cli

import (
	"context"
	"errors"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/target"
)

// openCluster reads the OffsiteTarget --target names from the cluster of the
// current kubeconfig (in --namespace, else the context's namespace), its
// credentials from its Secret, and connects to its bucket.
func (f *targetFlags) openCluster(ctx context.Context) (*offsite, error) {
	c, ns, err := kubeClient("", "", f.namespace)
	if err != nil {
		return nil, err
	}
	t := &v1alpha1.OffsiteTarget{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: f.name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("OffsiteTarget %s/%s not found (see 'kubectl get offsitetargets -n %s')", ns, f.name, ns)
		}
		return nil, fmt.Errorf("read OffsiteTarget %s/%s: %w", ns, f.name, err)
	}
	cfg, err := target.Config(ctx, c, t)
	if err != nil {
		return nil, fmt.Errorf("OffsiteTarget %s/%s: %w", ns, f.name, err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("offsite store: %w", err)
	}
	return &offsite{target: t, config: cfg, store: st, cluster: c}, nil
}

// kubeClient connects to the cluster of a kubeconfig (path "" means
// $KUBECONFIG, else ~/.kube/config; kubeContext "" its current context) and
// returns the client and the namespace to use (namespace, else the
// context's).
func kubeClient(path, kubeContext, namespace string) (client.Client, string, error) {
	cfg, ns, err := kubeConfig(path, kubeContext, namespace)
	if err != nil {
		return nil, "", err
	}
	scheme := runtime.NewScheme()
	// networking: restore --isolated creates NetworkPolicies; velero
	// v2alpha1: restore --namespace-mapping reads DataDownloads; batch:
	// it runs the volume reader Job (--volume-reader-image).
	// coordination: target release reads the controller's Lease.
	if err := errors.Join(corev1.AddToScheme(scheme), batchv1.AddToScheme(scheme), coordinationv1.AddToScheme(scheme), networkingv1.AddToScheme(scheme),
		v1alpha1.AddToScheme(scheme), velerov1.AddToScheme(scheme), velerov2alpha1.AddToScheme(scheme)); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect to the cluster: %w", err)
	}
	return c, ns, nil
}

// kubeConfig reads the client configuration of a kubeconfig (as
// kubeClient) and the namespace to use.
func kubeConfig(path, kubeContext, namespace string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	ns := namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, "", fmt.Errorf("kubeconfig: %w", err)
		}
	}
	return cfg, ns, nil
}
