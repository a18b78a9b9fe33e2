package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	velerov2alpha1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v2alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	safekeepv1alpha1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
)

const (
	// controlPlaneStartTimeout bounds the start of etcd and of kube-apiserver
	// each; the machine is small and shared, so it is generous.
	controlPlaneStartTimeout = 90 * time.Second
	// controlPlaneStopTimeout bounds the stop of each.
	controlPlaneStopTimeout = 20 * time.Second
	// crdInstallTimeout bounds the wait for installed CRDs to be served.
	crdInstallTimeout = 30 * time.Second
)

// ControlPlane is an envtest etcd and kube-apiserver on loopback. There is no
// kubelet or controller manager: Pods never run, Deployments stay unready,
// PVCs stay Pending and deleted namespaces stay Terminating.
type ControlPlane struct {
	// Config reaches the API server as a system:masters user.
	Config *rest.Config
	// Client is a controller-runtime client using Scheme.
	Client client.Client
	// Scheme knows client-go's built-in types, Velero's velero.io/v1 and
	// Safekeep's safekeep.dev/v1alpha1.
	Scheme *runtime.Scheme
	// Kubeconfig is the path of a kubeconfig file (mode 0600) for Config, for
	// the processes a test starts.
	Kubeconfig string

	env *envtest.Environment
}

// ControlPlaneOption changes how StartControlPlane starts the control plane.
type ControlPlaneOption func(*controlPlaneOptions)

type controlPlaneOptions struct {
	crdPaths []string
}

// WithCRDs installs the CRDs in each path (a folder of YAML or JSON files, or
// one file) and waits until they are served. A missing path fails the test.
func WithCRDs(paths ...string) ControlPlaneOption {
	return func(o *controlPlaneOptions) { o.crdPaths = append(o.crdPaths, paths...) }
}

// NewScheme returns a scheme with client-go's built-in types, Velero's
// velero.io/v1 and v2alpha1 (DataUploads, DataDownloads) and Safekeep's safekeep.dev/v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		velerov1.AddToScheme,
		velerov2alpha1.AddToScheme,
		safekeepv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// StartControlPlane starts etcd and kube-apiserver from BinDir with envtest,
// installs the CRDs the options name, and stops both when the test ends.
// It never downloads anything and never uses an existing cluster, whatever
// KUBEBUILDER_ASSETS, TEST_ASSET_* or USE_EXISTING_CLUSTER say. When the test
// failed, the tail of kube-apiserver's output is logged.
func StartControlPlane(tb TB, opts ...ControlPlaneOption) *ControlPlane {
	tb.Helper()
	skipShort(tb)
	var o controlPlaneOptions
	for _, opt := range opts {
		opt(&o)
	}
	scheme, err := NewScheme()
	if err != nil {
		tb.Fatalf("testbed: scheme: %v", err)
	}

	logDir := tb.TempDir()
	apiLog := openLog(tb, filepath.Join(logDir, "kube-apiserver.log"))
	etcdLog := openLog(tb, filepath.Join(logDir, "etcd.log"))

	noExisting := false
	env := &envtest.Environment{
		Scheme:                   scheme,
		BinaryAssetsDirectory:    BinDir(tb),
		DownloadBinaryAssets:     false,
		UseExistingCluster:       &noExisting,
		ControlPlaneStartTimeout: controlPlaneStartTimeout,
		ControlPlaneStopTimeout:  controlPlaneStopTimeout,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              o.crdPaths,
			ErrorIfPathMissing: true,
			MaxTime:            crdInstallTimeout,
		},
	}
	// Explicit paths win over KUBEBUILDER_ASSETS and TEST_ASSET_*, and with
	// DownloadBinaryAssets false envtest never fetches a release.
	api := env.ControlPlane.GetAPIServer()
	api.Path = Bin(tb, "kube-apiserver")
	api.Out, api.Err = apiLog, apiLog
	env.ControlPlane.Etcd = &envtest.Etcd{Path: Bin(tb, "etcd"), Out: etcdLog, Err: etcdLog}
	env.ControlPlane.KubectlPath = Bin(tb, "kubectl")

	cp := &ControlPlane{Scheme: scheme, env: env}
	tb.Cleanup(func() {
		if err := env.Stop(); err != nil {
			tb.Errorf("testbed: stop control plane: %v", err)
		}
		if tb.Failed() {
			tb.Logf("kube-apiserver output (tail of %s):\n%s", apiLog.Name(), tail(apiLog.Name()))
		}
	})
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		tb.Fatalf("testbed: start control plane: %v\nkube-apiserver output:\n%s", err, tail(apiLog.Name()))
	}
	tb.Logf("testbed: control plane up at %s in %s", cfg.Host, time.Since(start).Round(time.Millisecond))
	cp.Config = cfg

	cp.Client, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		tb.Fatalf("testbed: client: %v", err)
	}
	cp.Kubeconfig = filepath.Join(tb.TempDir(), "kubeconfig")
	if err := WriteKubeconfig(cfg, cp.Kubeconfig); err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	return cp
}

// InstallCRDs installs the CRDs in each path (folders or files) and waits
// until they are served.
func (cp *ControlPlane) InstallCRDs(tb TB, paths ...string) {
	tb.Helper()
	_, err := envtest.InstallCRDs(cp.Config, envtest.CRDInstallOptions{
		Scheme:             cp.Scheme,
		Paths:              paths,
		ErrorIfPathMissing: true,
		MaxTime:            crdInstallTimeout,
	})
	if err != nil {
		tb.Fatalf("testbed: install CRDs from %v: %v", paths, err)
	}
}

// WriteKubeconfig writes a kubeconfig file (mode 0600) at path that reaches
// the server cfg names with cfg's TLS client certificate or bearer token.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	const name = "envtest"
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
		CertificateAuthority:     cfg.CAFile,
		InsecureSkipTLSVerify:    cfg.Insecure,
	}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientCertificate:     cfg.CertFile,
		ClientKeyData:         cfg.KeyData,
		ClientKey:             cfg.KeyFile,
		Token:                 cfg.BearerToken,
		TokenFile:             cfg.BearerTokenFile,
		Username:              cfg.Username,
		Password:              cfg.Password,
	}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// openLog creates a log file that is closed when the test ends.
func openLog(tb TB, path string) *os.File {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() { _ = f.Close() }) // unbuffered: a close error loses no log line
	return f
}

// tail returns the last logTailBytes of the file at path.
func tail(path string) string { return tailBytes(path, logTailBytes) }

// tailBytes returns the last n bytes of the file at path.
func tailBytes(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
