// Package controller wires Safekeep's reconcilers into a manager: one
// package per kind (offsitetarget, backupschedule, restoredrill), each with
// its RBAC markers beside it, on the shared machinery of internal/kit (job
// pool, reconcile state, one status patch) and one audit writer
// (internal/auditlog). Setup registers them all; Options are every knob,
// with their defaults in kit (see docs/architecture.md).
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
	"cmp"
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
	"github.com/safekeep-dev/safekeep/controller/backupschedule"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/controller/offsitetarget"
	"github.com/safekeep-dev/safekeep/controller/restoredrill"
)

// Leader election runs in the controller's namespace.
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=safekeep-system,resources=leases,verbs=get;create;update
// Events are written beside the objects they describe, in any namespace.
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// Audit entries still to be written are kept in ConfigMaps in the
// controller's namespace (auditlog.Outbox).
// +kubebuilder:rbac:groups="",namespace=safekeep-system,resources=configmaps,verbs=get;list;create;delete

// Defaults of Options (kit holds them, in one place).
const (
	DefaultVeleroNamespace         = kit.DefaultVeleroNamespace
	DefaultVeleroCredentialsSecret = kit.DefaultVeleroCredentialsSecret
	DefaultTargetCheckInterval     = kit.DefaultTargetCheckInterval
	DefaultTargetRetryInterval     = kit.DefaultTargetRetryInterval
	DefaultTargetProbeTimeout      = kit.DefaultTargetProbeTimeout
	DefaultConcurrentSeals         = kit.DefaultConcurrentSeals
	DefaultSealConcurrency         = kit.DefaultSealConcurrency
	DefaultConcurrentDrills        = kit.DefaultConcurrentDrills
	DefaultDrillSweepInterval      = kit.DefaultDrillSweepInterval
	DefaultBackupDeadline          = kit.DefaultBackupDeadline
	// EventSource names the controller in the Events it writes.
	EventSource = kit.EventSource
)

// Options configure the reconcilers; safekeep-controller has a flag for
// each (docs/controller.md). A zero field means its default.
type Options struct {
	// Namespace is the controller's own namespace, where it reads Secrets
	// (and nowhere else: see CacheOptions). Empty means every namespace,
	// for development and tests.
	Namespace string
	// VeleroNamespace is where Velero's objects live; "" means "velero".
	VeleroNamespace string
	// VeleroCredentialsSecret is the Secret in VeleroNamespace whose
	// "cloud" key holds the credentials of BackupStorageLocations that
	// name none; "" means "cloud-credentials", as `velero install` makes.
	VeleroCredentialsSecret string
	// ClusterID names this cluster in the seals it writes (seal.json
	// "cluster"); may be empty.
	ClusterID string
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
	// MaxConcurrentSeals bounds the backups sealed (and retention passes
	// run) at once, across schedules; 0 means 2.
	MaxConcurrentSeals int
	// SealConcurrency is how many objects one seal copies at once; 0
	// means 4.
	SealConcurrency int
	// BackupDeadline bounds how long a BackupSchedule run waits for its
	// Velero Backup to reach a terminal phase (Velero down, a Backup never
	// picked up), from the run's scheduled time: past it the run is
	// recorded as failed (BackupTimedOut) and the next due run goes
	// ahead. 0 means 6 hours.
	BackupDeadline time.Duration
	// MaxConcurrentDrills bounds the drill runs in flight at once, across
	// drills; 0 means 2.
	MaxConcurrentDrills int
	// DrillSweepInterval is how often the leftovers of drill runs whose
	// RestoreDrill no longer exists are looked for; 0 means 10 minutes.
	DrillSweepInterval time.Duration
	// VolumeReaderImage is the image of the Job that reads the volumes a
	// Level 2 drill restored (the controller's own: its binary has the
	// volume-digests subcommand); "" fails those reads, saying so.
	VolumeReaderImage string
	// SkipNameValidation allows registering the controllers again in the
	// same process (tests that start several managers).
	SkipNameValidation bool
	// AuditActor names the controller in its audit entries, for example
	// "system:serviceaccount:safekeep-system:safekeep-controller" (never a
	// credential); "" means "safekeep-controller".
	AuditActor string
}

// WithDefaults returns o with every zero field set to its default.
func (o Options) WithDefaults() Options {
	o.VeleroNamespace = cmp.Or(o.VeleroNamespace, DefaultVeleroNamespace)
	o.VeleroCredentialsSecret = cmp.Or(o.VeleroCredentialsSecret, DefaultVeleroCredentialsSecret)
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	o.TargetCheckInterval = positive(o.TargetCheckInterval, DefaultTargetCheckInterval)
	o.TargetRetryInterval = positive(o.TargetRetryInterval, DefaultTargetRetryInterval)
	o.TargetProbeTimeout = positive(o.TargetProbeTimeout, DefaultTargetProbeTimeout)
	o.MaxConcurrentSeals = positive(o.MaxConcurrentSeals, DefaultConcurrentSeals)
	o.SealConcurrency = positive(o.SealConcurrency, DefaultSealConcurrency)
	o.MaxConcurrentDrills = positive(o.MaxConcurrentDrills, DefaultConcurrentDrills)
	o.BackupDeadline = positive(o.BackupDeadline, DefaultBackupDeadline)
	o.DrillSweepInterval = positive(o.DrillSweepInterval, DefaultDrillSweepInterval)
	o.AuditActor = cmp.Or(o.AuditActor, auditlog.DefaultActor)
	return o
}

// positive is v, or def when v is not positive.
func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
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
	o = o.WithDefaults()
	rec := mgr.GetEventRecorder(EventSource)
	aud := auditlog.New(o.AuditActor, rec)
	aud.UseOutbox(&auditlog.Outbox{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: o.Namespace})
	aud.OnWritten(auditlog.OwnerRestoreDrill, restoredrill.AuditWritten(mgr.GetClient()))
	targets := &offsitetarget.Reconciler{
		Client:        mgr.GetClient(),
		Recorder:      rec,
		Clock:         o.Clock,
		Namespace:     o.Namespace,
		CheckInterval: o.TargetCheckInterval,
		RetryInterval: o.TargetRetryInterval,
		ProbeTimeout:  o.TargetProbeTimeout,
		Audit:         aud,
	}
	aud.OnHead(targets.NotifyHead) // status.auditHead follows every write
	return errors.Join(
		targets.SetupWithManager(mgr, o.SkipNameValidation),
		backupschedule.Setup(mgr, backupschedule.Options{
			Namespace: o.Namespace, VeleroNamespace: o.VeleroNamespace, VeleroCredentialsSecret: o.VeleroCredentialsSecret, Clock: o.Clock,
			MaxConcurrentSeals: o.MaxConcurrentSeals, SealConcurrency: o.SealConcurrency, ClusterID: o.ClusterID, BackupDeadline: o.BackupDeadline,
			SkipNameValidation: o.SkipNameValidation, Audit: aud,
		}),
		restoredrill.Setup(mgr, restoredrill.Options{
			Namespace: o.Namespace, VeleroNamespace: o.VeleroNamespace, VeleroCredentialsSecret: o.VeleroCredentialsSecret,
			Clock: o.Clock, MaxConcurrentDrills: o.MaxConcurrentDrills, SweepInterval: o.DrillSweepInterval,
			VolumeReaderImage: o.VolumeReaderImage, SkipNameValidation: o.SkipNameValidation, Audit: aud,
		}),
	)
}
