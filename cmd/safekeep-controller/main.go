// Command safekeep-controller runs Safekeep's reconcilers (OffsiteTarget,
// BackupSchedule, OffsiteBackup) in a controller-runtime manager, in a
// cluster or outside one given a kubeconfig (--kubeconfig, else KUBECONFIG,
// else the in-cluster service account, else ~/.kube/config).
//
// It serves Prometheus metrics (--metrics-bind-address), liveness on
// /healthz and readiness on /readyz (--health-probe-bind-address), and with
// --leader-elect takes a Lease in its namespace so that only one replica
// reconciles at a time. Logs are structured JSON (zap through logr) on
// stderr; they never hold credentials, keys or identities.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller"
)

const (
	// leaderElectionID names the Lease the replicas compete for.
	leaderElectionID = v1alpha1.ControllerLeaseName
	// defaultNamespace is the controller's namespace when neither
	// --namespace, POD_NAMESPACE nor the service account says.
	defaultNamespace = v1alpha1.DefaultControllerNamespace
	// serviceAccountNamespace holds the pod's namespace in a cluster.
	serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
	// readyzTimeout bounds the cache-sync check of one readiness probe.
	readyzTimeout = time.Second
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == volumeDigestsCommand {
		os.Exit(runVolumeDigests(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stderr))
}

// flags are the command line.
type flags struct {
	kubeconfig      string
	namespace       string
	leaderElect     bool
	metricsAddr     string
	probeAddr       string
	opts            controller.Options
	zap             zap.Options
	showHelpAndExit bool
	showVersion     bool
	selfcheck       string
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{zap: zap.Options{}}
	fs := flag.NewFlagSet("safekeep-controller", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path of a kubeconfig, to run outside a cluster (default $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)")
	fs.StringVar(&f.namespace, "namespace", "", "the controller's namespace: its leader-election Lease and the only Secrets it reads (default $POD_NAMESPACE, else the service account's, else "+defaultNamespace+")")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "take a Lease so that only one replica reconciles at a time")
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (/metrics); 0 turns it off")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes; 0 turns them off")
	bindOptions(fs, &f.opts)
	fs.BoolVar(&f.showVersion, "version", false, "print the version, commit and Go version, then exit")
	fs.StringVar(&f.selfcheck, "selfcheck", "", "with no network, load time zones and verify the PEM certificate chain in this file against the CA roots, then exit (for image tests)")
	f.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.showHelpAndExit = true
			return f, nil
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: every input is a flag (see --help)", fs.Arg(0))
	}
	if f.namespace == "" {
		f.namespace = ownNamespace()
	}
	f.opts.Namespace = f.namespace
	if f.opts.AuditActor == "" {
		f.opts.AuditActor = auditActor(f.namespace)
	}
	return f, nil
}

// bindOptions registers a flag for every controller.Options field but the
// namespace (--namespace, above) and the test hooks (Clock,
// SkipNameValidation). docs/controller.md lists them.
func bindOptions(fs *flag.FlagSet, o *controller.Options) {
	fs.StringVar(&o.VeleroNamespace, "velero-namespace", controller.DefaultVeleroNamespace, "namespace of Velero's objects")
	fs.StringVar(&o.VeleroCredentialsSecret, "velero-credentials-secret", controller.DefaultVeleroCredentialsSecret,
		"Secret in the Velero namespace whose \"cloud\" key holds the credentials of BackupStorageLocations that name none")
	fs.StringVar(&o.ClusterID, "cluster-id", "", "name of this cluster in the seals it writes (seal.json \"cluster\")")
	fs.DurationVar(&o.TargetCheckInterval, "target-check-interval", controller.DefaultTargetCheckInterval, "how often a Ready OffsiteTarget's bucket is probed again")
	fs.DurationVar(&o.TargetRetryInterval, "target-retry-interval", controller.DefaultTargetRetryInterval, "how soon an OffsiteTarget whose probe failed is probed again")
	fs.DurationVar(&o.TargetProbeTimeout, "target-probe-timeout", controller.DefaultTargetProbeTimeout, "time limit of one probe of an OffsiteTarget's bucket")
	fs.IntVar(&o.MaxConcurrentSeals, "max-concurrent-seals", controller.DefaultConcurrentSeals, "backups sealed (and retention passes run) at once, across schedules")
	fs.IntVar(&o.SealConcurrency, "seal-concurrency", controller.DefaultSealConcurrency, "objects one seal copies at once (about 2 MiB of memory each)")
	fs.DurationVar(&o.BackupDeadline, "backup-deadline", controller.DefaultBackupDeadline,
		"how long a BackupSchedule run waits for its Velero Backup to finish before it is recorded as failed and the next run goes ahead")
	fs.IntVar(&o.MaxConcurrentDrills, "max-concurrent-drills", controller.DefaultConcurrentDrills, "drill runs in flight at once, across drills")
	fs.DurationVar(&o.DrillSweepInterval, "drill-sweep-interval", controller.DefaultDrillSweepInterval,
		"how often the leftovers of drill runs whose RestoreDrill no longer exists are looked for")
	fs.StringVar(&o.VolumeReaderImage, "volume-reader-image", "",
		"image of the Job that reads volumes restored by a Level 2 drill (spec.checks.volumeFiles Compare): this controller's own image, whose binary has the volume-digests subcommand")
	fs.StringVar(&o.AuditActor, "audit-actor", "", "actor of the controller's audit entries (default system:serviceaccount:<namespace>:$SERVICE_ACCOUNT_NAME, else safekeep-controller)")
}

// auditActor names the controller in audit entries by its service
// account: SERVICE_ACCOUNT_NAME (set from the pod spec), else the one the
// deployment creates. An identity, never a credential.
func auditActor(namespace string) string {
	sa := os.Getenv("SERVICE_ACCOUNT_NAME")
	if sa == "" {
		sa = "safekeep-controller"
	}
	return "system:serviceaccount:" + namespace + ":" + sa
}

// ownNamespace finds the namespace the controller runs in.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return defaultNamespace
}

// run parses args, builds the manager and runs it until ctx ends. It
// returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		// Best effort: stderr is the only place to report to.
		_, _ = fmt.Fprintf(stderr, "safekeep-controller: %v\n", err)
		return exitUsage
	}
	switch {
	case f.showHelpAndExit:
		return exitOK
	case f.showVersion:
		return printVersion()
	case f.selfcheck != "":
		return runSelfcheck(f.selfcheck, stderr)
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		// Best effort: stderr is the only place to report to.
		_, _ = fmt.Fprintf(stderr, "safekeep-controller: %v\n", err)
		return exitFailure
	}
	// From here on, logs are structured. The loggers are process-wide.
	log := zap.New(zap.UseFlagOptions(&f.zap), zap.WriteTo(stderr))
	ctrl.SetLogger(log)
	klog.SetLogger(log) // client-go (leader election, events) logs through the same sink
	setupLog := log.WithName("setup")
	scheme, err := controller.NewScheme()
	if err != nil {
		setupLog.Error(err, "unable to build the scheme")
		return exitFailure
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         controller.CacheOptions(f.opts),
		Metrics:                       metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              leaderElectionID,
		LeaderElectionNamespace:       f.namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		setupLog.Error(err, "unable to create the manager")
		return exitFailure
	}
	if err := controller.Setup(mgr, f.opts); err != nil {
		setupLog.Error(err, "unable to set up the reconcilers")
		return exitFailure
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		setupLog.Error(err, "unable to add the liveness check")
		return exitFailure
	}
	if err := mgr.AddReadyzCheck("cache-synced", cacheSynced(mgr)); err != nil {
		setupLog.Error(err, "unable to add the readiness check")
		return exitFailure
	}
	setupLog.Info("starting manager", "host", cfg.Host, "namespace", f.namespace, "veleroNamespace", f.opts.VeleroNamespace,
		"leaderElect", f.leaderElect, "metrics", f.metricsAddr, "probes", f.probeAddr)
	if err := mgr.Start(ctx); err != nil {
		setupLog.Error(err, "manager stopped with an error")
		return exitFailure
	}
	setupLog.Info("manager stopped")
	return exitOK
}

// restConfig loads the kubeconfig at path, or, when path is empty, finds a
// configuration as controller-runtime does ($KUBECONFIG, in-cluster,
// ~/.kube/config).
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if cfg.QPS == 0 {
		// As ctrl.GetConfig does: no client-side limit (client-go's default
		// is 5 requests/s), the API server's priority and fairness governs.
		cfg.QPS = -1
	}
	return cfg, nil
}

// cacheSynced is ready once the manager's informers have synced.
func cacheSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), readyzTimeout)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}
