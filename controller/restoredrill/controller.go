// Package restoredrill reconciles RestoreDrills: on their schedule (or
// when asked with AnnotationRunNow) it picks a sealed backup, hands the
// run to a bounded pool of workers (kit.Pool) that restore and check it
// with package drill, records the verdict in status, an Event, metrics
// and the audit log, and cleans up per policy. The steps of a reconcile
// are listed, in order, in Reconcile.
package restoredrill

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/drill/volumereader"
)

// Defaults of a drill's spec, and intervals.
const (
	DefaultDrillTimeout       = time.Hour
	DefaultDrillHistoryLimit  = 10
	DefaultScratchPrefix      = "drill-"
	DefaultIdentityKey        = "identity"
	drillRefRetryInterval     = time.Minute // a reference that does not resolve is looked at again
	drillCleanupRetryInterval = time.Minute // failed cleanups are retried
	drillSweepTimeout         = 2 * time.Minute
	drillJobPollInterval      = time.Minute // a running job is looked at again
)

// Options tune the RestoreDrill reconciler. The zero value of
// each field means its default.
type Options struct {
	// Namespace is the controller's namespace, the only one whose Secrets
	// it reads; "" means any (development and tests).
	Namespace string
	// VeleroNamespace is where Velero runs; default "velero".
	VeleroNamespace string
	// VeleroCredentialsSecret serves staging locations that name no
	// credential; default kit.DefaultVeleroCredentialsSecret.
	VeleroCredentialsSecret string
	// Clock tells the time; default the real clock.
	Clock clock.Clock
	// MaxConcurrentDrills bounds the runs in flight at once, across drills;
	// default kit.DefaultConcurrentDrills.
	MaxConcurrentDrills int
	// ReaderClusterRole is bound to the controller in every scratch
	// namespace; default v1alpha1.DrillReaderClusterRole. "-" binds none (when the
	// controller may already read everywhere, as in tests).
	ReaderClusterRole string
	// Audit records each finished run in the audit log; nil records none.
	Audit DrillAuditor
	// SweepInterval is how often the leftovers of runs whose drill no
	// longer exists are looked for; default kit.DefaultDrillSweepInterval.
	SweepInterval time.Duration
	// VolumeReaderImage is the image of the Job that reads the volumes a
	// Level 2 run restored (volumereader.Reader); "" fails those reads.
	VolumeReaderImage string
	// SkipNameValidation allows registering the controller again in the
	// same process (tests that start several managers).
	SkipNameValidation bool
}

// Reconciler runs RestoreDrills: on their schedule (or when
// asked with v1alpha1.AnnotationRunNow) it picks a sealed backup, hands the run to a
// bounded pool of workers that restore and check it (package drill),
// records the verdict in status, an Event, metrics and the audit log, and
// cleans up per policy. See the RestoreDrill type for the contract.
type Reconciler struct {
	// Client writes, and reads drills, schedules, targets and
	// OffsiteBackups from the manager's cache. Status patches carry the
	// resourceVersion read, so a decision made on a stale drill is never
	// written.
	client.Client
	// APIReader reads what is not cached: Secrets, BackupStorageLocations,
	// namespaces and Velero objects (so the manager caches none of them).
	APIReader client.Reader
	// Direct is an uncached client the drill engine creates and reads
	// Velero objects and scratch namespaces with; nil means Client.
	Direct client.Client
	// Logs reads the log of a Level 2 run's volume reader (pods/log).
	Logs volumereader.Logs
	// VolumeReaderImage is Options.VolumeReaderImage.
	VolumeReaderImage string
	Scheme            *runtime.Scheme
	Recorder          events.EventRecorder
	Clock             clock.Clock

	Namespace         string
	VeleroNamespace   string
	VeleroCredentials string
	ReaderClusterRole string
	Audit             DrillAuditor

	jobs *drillJobs
	// randMu guards rand, which picks Random backups.
	randMu sync.Mutex
	rand   *rand.Rand
	// self is the controller's own identity, bound in scratch namespaces.
	self selfSubject
	// carry carries out a run; nil means carryOut. Tests of the
	// reconciler's bookkeeping replace it (the engine runs in e2e).
	carry func(context.Context, drillRunSpec) *drillJobResult
	// engine runs the drill in carryOut; nil means drill.Run. Tests of
	// what carryOut records replace it.
	engine func(context.Context, drill.Options) (*drill.Result, error)
}

// RBAC: drills in any namespace; what they reference (read); the records
// they update. Velero: Backups and Restores in the Velero namespace (the
// staged copy and its restore), locations and the default credentials.
// Namespaces: create and delete, which RBAC cannot limit to the drill's
// own; the code creates only new namespaces it labels and deletes only
// namespaces carrying v1alpha1.LabelDrill (scratchClient), and
// deploy/drill_rbac.yaml adds an admission policy that enforces the same in
// the API server. RoleBindings: create, and bind only
// v1alpha1.DrillReaderClusterRole: the controller reads restored objects only in
// scratch namespaces, through that binding. NetworkPolicies,
// ResourceQuotas, LimitRanges: create, to isolate each scratch namespace
// before restoring into it (the admission policy refuses them in other
// namespaces). ConfigMaps in the Velero namespace: each run's resource
// modifiers. PodVolumeBackups and BackupRepositories in the Velero
// namespace, and get on Velero's repository password Secret by name: a
// Level 2 run (spec.checks.volumeFiles Compare) stages the renamed
// PodVolumeBackups and a Ready BackupRepository, checks the password
// against the sealed repository's first, and reads PodVolumeRestores.
// The generated Role's namespace is "velero"; another Velero namespace
// needs it patched.
// +kubebuilder:rbac:groups=safekeep.dev,resources=restoredrills,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=restoredrills/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=restoredrills/finalizers,verbs=update
// +kubebuilder:rbac:groups=safekeep.dev,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitetargets,verbs=get;list;watch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitebackups,verbs=get;list;watch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitebackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=backups,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=restores,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=backupstoragelocations,verbs=get;list
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;create;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=create
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=safekeep-drill-reader
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=selfsubjectreviews,verbs=create
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=create
// +kubebuilder:rbac:groups="",resources=resourcequotas;limitranges,verbs=create
// +kubebuilder:rbac:groups="",namespace=velero,resources=configmaps,verbs=get;create;delete
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=podvolumebackups;backuprepositories,verbs=get;list;create;delete
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=podvolumerestores,verbs=get;list
// +kubebuilder:rbac:groups="",namespace=velero,resources=secrets,resourceNames=velero-repo-credentials,verbs=get

// Setup builds the RestoreDrill reconciler from mgr and
// registers it with its workers.
func Setup(mgr ctrl.Manager, o Options) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{
		HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
	})
	if err != nil {
		return fmt.Errorf("restore drill client: %w", err)
	}
	cs, err := kubernetes.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return fmt.Errorf("restore drill clientset: %w", err)
	}
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme(), mgr.GetEventRecorder(kit.EventSource), o)
	r.Direct = direct
	r.Logs = volumereader.ClientsetLogs(cs)
	if err := mgr.Add(r.jobs); err != nil {
		return err
	}
	interval := o.SweepInterval
	if interval <= 0 {
		interval = kit.DefaultDrillSweepInterval
	}
	if err := mgr.Add(&orphanSweeper{r: r, interval: interval}); err != nil {
		return err
	}
	return r.SetupWithManager(mgr, controller.Options{SkipNameValidation: &o.SkipNameValidation})
}

// New returns a reconciler with o's defaults
// applied. Its workers run once started by a manager (or by a test calling
// StartJobs).
func New(c client.Client, apiReader client.Reader, scheme *runtime.Scheme, rec events.EventRecorder, o Options) *Reconciler {
	r := &Reconciler{
		Client: c, APIReader: apiReader, Scheme: scheme, Recorder: rec, Clock: o.Clock,
		Namespace: o.Namespace, VeleroNamespace: o.VeleroNamespace, VeleroCredentials: o.VeleroCredentialsSecret,
		ReaderClusterRole: o.ReaderClusterRole, Audit: o.Audit, VolumeReaderImage: o.VolumeReaderImage,
		jobs: newDrillJobs(cmp.Or(max(o.MaxConcurrentDrills, 0), kit.DefaultConcurrentDrills)),
		rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), //nolint:gosec // picking a backup, not a secret
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.VeleroNamespace == "" {
		r.VeleroNamespace = kit.DefaultVeleroNamespace
	}
	if r.VeleroCredentials == "" {
		r.VeleroCredentials = kit.DefaultVeleroCredentialsSecret
	}
	if r.ReaderClusterRole == "" {
		r.ReaderClusterRole = v1alpha1.DrillReaderClusterRole
	}
	return r
}

// StartJobs runs the workers until ctx ends; a manager does it for a
// reconciler set up with Setup.
func (r *Reconciler) StartJobs(ctx context.Context) error { return r.jobs.Start(ctx) }

// SetupWithManager registers the reconciler: it watches RestoreDrills
// (spec and annotation changes), the BackupSchedules they drill, and its
// own workers.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = kit.DefaultDrillReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("restoredrill").
		For(&v1alpha1.RestoreDrill{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, kit.DeletionStarted()))).
		Watches(&v1alpha1.BackupSchedule{}, handler.EnqueueRequestsFromMapFunc(r.drillsOfSchedule),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		WatchesRawSource(source.Channel(r.jobs.WakeSource(), &handler.EnqueueRequestForObject{})).
		WithOptions(opts).
		Complete(r)
}

// drillsOfSchedule maps a BackupSchedule to the drills in its namespace
// that name it.
func (r *Reconciler) drillsOfSchedule(ctx context.Context, o client.Object) []reconcile.Request {
	return kit.Referrers(ctx, r.Client, &v1alpha1.RestoreDrillList{}, o.GetNamespace(), func(x client.Object) bool {
		d, ok := x.(*v1alpha1.RestoreDrill)
		return ok && d.Spec.BackupScheduleRef.Name == o.GetName()
	})
}

// Reconcile runs the steps in order (a step that fails stops the rest),
// then patches the status once and carries out the side effects.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.RestoreDrill{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return r.gone(ctx, req)
		}
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		return r.deleting(ctx, obj)
	}
	if err := r.addFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	st := newDrillState(obj, r.Clock.Now())
	err := kit.RunSteps(ctx, st,
		r.parseSpec, r.checkRefs, r.collectJob, r.recoverInterrupted, r.cleanupDue, r.startRun,
	)
	return st.Result(ctx, err, r.finish(ctx, st))
}

// gone forgets a drill that is gone (deleted before it had the
// finalizer): its metrics, its job, and what its runs left.
func (r *Reconciler) gone(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	forgetDrillMetrics(req.Namespace, req.Name)
	_, err := r.cleanUpAfter(ctx, req.NamespacedName)
	return ctrl.Result{}, err
}

// deleting cleans up after a drill being deleted, then removes its
// finalizer so that the API server deletes it.
func (r *Reconciler) deleting(ctx context.Context, d *v1alpha1.RestoreDrill) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(d, v1alpha1.FinalizerDrillCleanup) {
		return ctrl.Result{}, nil
	}
	forgetDrillMetrics(d.Namespace, d.Name)
	done, err := r.cleanUpAfter(ctx, client.ObjectKeyFromObject(d))
	if err != nil || !done {
		return ctrl.Result{}, err
	}
	r.auditDeletedRun(ctx, d)
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(d, v1alpha1.FinalizerDrillCleanup)
	if err := r.Patch(ctx, d, patch); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, fmt.Errorf("remove the finalizer of RestoreDrill %s: %w", client.ObjectKeyFromObject(d), err)
	}
	logf.FromContext(ctx).Info("drill deleted, what its runs left is gone")
	return ctrl.Result{}, nil
}

// cleanUpAfter cancels a deleted drill's job and deletes everything its
// runs left. done is false while the canceled job still runs: its end
// wakes the drill again.
func (r *Reconciler) cleanUpAfter(ctx context.Context, key types.NamespacedName) (done bool, err error) {
	if r.jobs.forget(key) {
		return false, nil
	}
	sctx, cancel := context.WithTimeout(ctx, drillSweepTimeout)
	defer cancel()
	if _, err := r.sweep(sctx, key.Namespace, key.Name, nil); err != nil {
		return false, fmt.Errorf("clean up after deleted RestoreDrill %s: %w", key, err)
	}
	return true, nil
}

// addFinalizer puts FinalizerDrillCleanup on d before anything of a run
// exists outside it.
func (r *Reconciler) addFinalizer(ctx context.Context, d *v1alpha1.RestoreDrill) error {
	if controllerutil.ContainsFinalizer(d, v1alpha1.FinalizerDrillCleanup) {
		return nil
	}
	patch := client.MergeFromWithOptions(d.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(d, v1alpha1.FinalizerDrillCleanup)
	if err := r.Patch(ctx, d, patch); err != nil {
		return fmt.Errorf("add the finalizer of RestoreDrill %s: %w", client.ObjectKeyFromObject(d), err)
	}
	return nil
}
