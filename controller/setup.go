// Package controller holds Safekeep's reconcilers: one per kind
// (OffsiteTarget, BackupSchedule, OffsiteBackup), each in its own files with
// its RBAC markers beside it. Setup registers them all with a manager.
//
// Every reconcile ends in one summarize-and-patch step that writes the
// status (conditions from api/v1alpha1, observedGeneration) once. Failures
// of the user's objects are reported as conditions and Events, never as a
// crash or a retry storm: a spec that cannot work is not requeued until it
// changes, and checks of the outside world are repeated at a bounded,
// jittered interval. Logs, Events and conditions never hold a credential or
// a key.
package controller

import (
	"errors"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// Leader election runs in the controller's namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=safekeep-system,resources=leases,verbs=get;create;update
// Events are written beside the objects they describe, in any namespace.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Defaults of Options.
const (
	DefaultVeleroNamespace     = "velero"
	DefaultTargetCheckInterval = 5 * time.Minute
	DefaultTargetRetryInterval = 30 * time.Second
	DefaultTargetProbeTimeout  = 15 * time.Second
	// EventSource names the controller in the Events it writes.
	EventSource = "safekeep-controller"
)

// Options configure the reconcilers. A zero field means its default.
type Options struct {
	// Namespace is the controller's own namespace, where it reads Secrets
	// (and nowhere else: see CacheOptions). Empty means every namespace,
	// for development and tests.
	Namespace string
	// VeleroNamespace is where Velero's objects live; "" means "velero".
	VeleroNamespace string
	// Clock stamps conditions and drives schedules; nil means the real one.
	Clock clock.Clock
	// TargetCheckInterval is how often a Ready OffsiteTarget's bucket is
	// probed again (plus up to 10% jitter); 0 means 5 minutes.
	TargetCheckInterval time.Duration
	// TargetRetryInterval is how soon an OffsiteTarget whose probe failed
	// (unreachable, server error, bucket missing...) is probed again (plus
	// up to 10% jitter); 0 means 30 s. It is a fixed interval, not a
	// growing backoff: one probe per target per interval at most.
	TargetRetryInterval time.Duration
	// TargetProbeTimeout bounds one probe of a bucket; 0 means 15 s.
	TargetProbeTimeout time.Duration
	// SkipNameValidation allows registering the controllers again in the
	// same process (tests that start several managers).
	SkipNameValidation bool
	// AuditActor names the controller in its audit entries, for example
	// "system:serviceaccount:safekeep-system:safekeep-controller" (never a
	// credential); "" means DefaultAuditActor.
	AuditActor string
}

func (o Options) withDefaults() Options {
	if o.VeleroNamespace == "" {
		o.VeleroNamespace = DefaultVeleroNamespace
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.TargetCheckInterval <= 0 {
		o.TargetCheckInterval = DefaultTargetCheckInterval
	}
	if o.TargetRetryInterval <= 0 {
		o.TargetRetryInterval = DefaultTargetRetryInterval
	}
	if o.TargetProbeTimeout <= 0 {
		o.TargetProbeTimeout = DefaultTargetProbeTimeout
	}
	return o
}

// NewScheme returns a scheme with the kinds the reconcilers use: client-go's
// built-in types, Velero's velero.io/v1 and Safekeep's safekeep.dev/v1alpha1.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(s), velerov1.AddToScheme(s), v1alpha1.AddToScheme(s)); err != nil {
		return nil, err
	}
	return s, nil
}

// CacheOptions returns the manager cache settings the reconcilers expect:
// Secrets are listed and watched only in o.Namespace (when set), so the
// controller needs no cluster-wide right on Secrets. Other kinds are cached
// in every namespace.
func CacheOptions(o Options) cache.Options {
	if o.Namespace == "" {
		return cache.Options{}
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}},
		},
	}
}

// Setup registers every reconciler with mgr. The manager's cache should
// follow CacheOptions(o).
func Setup(mgr manager.Manager, o Options) error {
	o = o.withDefaults()
	aud := newAuditor(o.AuditActor, mgr.GetEventRecorder(EventSource))
	return errors.Join(
		(&OffsiteTargetReconciler{
			Client:        mgr.GetClient(),
			Recorder:      mgr.GetEventRecorder(EventSource),
			Clock:         o.Clock,
			Namespace:     o.Namespace,
			CheckInterval: o.TargetCheckInterval,
			RetryInterval: o.TargetRetryInterval,
			ProbeTimeout:  o.TargetProbeTimeout,
			audit:         aud,
		}).SetupWithManager(mgr, o.SkipNameValidation),
		SetupBackupSchedule(mgr, BackupScheduleOptions{VeleroNamespace: o.VeleroNamespace, Clock: o.Clock, SkipNameValidation: o.SkipNameValidation, auditor: aud}),
		SetupRestoreDrill(mgr, RestoreDrillOptions{Namespace: o.Namespace, VeleroNamespace: o.VeleroNamespace, Clock: o.Clock, SkipNameValidation: o.SkipNameValidation, Audit: drillAudit{aud}}),
	)
}
