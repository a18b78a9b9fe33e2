// Package backupschedule reconciles BackupSchedules: it starts a Velero
// backup on each cron time (or when asked with AnnotationRunNow), seals
// each completed one into the schedule's OffsiteTarget off the reconcile
// loop (kit.Pool), records it as an OffsiteBackup and applies retention.
// The steps of a reconcile are listed, in order, in Reconcile.
package backupschedule

import (
	"cmp"
	"context"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// Options tune the BackupSchedule reconciler. The zero value of each
// field means its default (kit.Default*).
type Options struct {
	// Namespace is the controller's own, where the Secrets of targets and
	// drills live: no backup holds it (nor VeleroNamespace).
	Namespace string
	// VeleroNamespace is where Velero runs: Backups are created there and
	// BackupStorageLocations read from there. Default "velero".
	VeleroNamespace string
	// VeleroCredentialsSecret is the Secret in VeleroNamespace whose
	// "cloud" key holds the credentials of locations that name none.
	// Default kit.DefaultVeleroCredentialsSecret.
	VeleroCredentialsSecret string
	// Clock tells the time; default the real clock. Tests pass a fake one.
	Clock clock.Clock
	// MaxConcurrentReconciles of BackupSchedules. Reconciles only talk to
	// the API server (sealing runs apart), so many schedules due at once
	// start quickly. Default kit.DefaultScheduleReconciles.
	MaxConcurrentReconciles int
	// MaxConcurrentSeals bounds the backups sealed (and retention passes
	// run) at once, across schedules. Default kit.DefaultConcurrentSeals.
	MaxConcurrentSeals int
	// SealConcurrency is how many objects one seal copies at once; 0
	// means seal.DefaultConcurrency.
	SealConcurrency int
	// ClusterID names this cluster in seals; may be empty.
	ClusterID string
	// BackupDeadline bounds how long a run waits for its Velero Backup to
	// reach a terminal phase, from the run's scheduled (or requested)
	// time; 0 means kit.DefaultBackupDeadline.
	BackupDeadline time.Duration
	// SkipNameValidation allows registering the controller again in the
	// same process (tests that start several managers).
	SkipNameValidation bool

	// Audit writes audit entries (seals, deletions, failures); nil means
	// one of its own. Setup shares one with the other reconcilers.
	Audit *auditlog.Auditor
}

// Reconciler starts Velero backups on a cron schedule, seals
// each completed one offsite, records it as an OffsiteBackup and applies
// retention. See the BackupSchedule type for the contract.
type Reconciler struct {
	// Client writes, and reads schedules, their targets and OffsiteBackups
	// from the manager's cache. A decision made on a stale schedule is
	// never written: the status patch carries the resourceVersion read.
	client.Client
	// APIReader reads what is not cached or must be current: Secrets,
	// BackupStorageLocations, a Velero Backup just created.
	APIReader client.Reader
	// Velero reads the Velero Backups this controller made (a cache of
	// VeleroNamespace holding only Backups labelled v1alpha1.LabelSchedule).
	Velero   client.Reader
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.Clock

	Namespace         string
	VeleroNamespace   string
	VeleroCredentials string
	SealConcurrency   int
	ClusterID         string
	BackupDeadline    time.Duration

	jobs  *kit.Pool[*jobResult]
	audit *auditlog.Auditor
	// created are the Velero Backups this process made.
	created createdBackups
}

// RBAC: schedules and their records in any namespace; Velero objects in the
// Velero namespace, and there only Velero's default credentials Secret
// (a location whose spec.credential names another Secret needs the Role
// extended), and, by name, Velero's Deployment and node-agent DaemonSets
// (what its server runs with: checkVolumeData). The generated Role's namespace is "velero"; a deployment with
// another Velero namespace patches it.
// +kubebuilder:rbac:groups=safekeep.dev,resources=backupschedules,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=backupschedules/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitebackups,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitebackups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitetargets,verbs=get;list;watch
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=backups,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=velero.io,namespace=velero,resources=backupstoragelocations,verbs=get;list
// +kubebuilder:rbac:groups="",namespace=velero,resources=secrets,resourceNames=cloud-credentials,verbs=get
// +kubebuilder:rbac:groups="",namespace=velero,resources=secrets,resourceNames=velero-repo-credentials,verbs=get
// +kubebuilder:rbac:groups=apps,namespace=velero,resources=deployments,resourceNames=velero,verbs=get
// +kubebuilder:rbac:groups=apps,namespace=velero,resources=daemonsets,resourceNames=node-agent;node-agent-windows,verbs=get

// Setup builds the BackupSchedule reconciler from mgr and
// registers it, with its seal workers and its cache of Velero Backups.
func Setup(mgr ctrl.Manager, o Options) error {
	r := New(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetScheme(),
		mgr.GetEventRecorder(kit.EventSource), o)
	return r.SetupWithManager(mgr, controller.Options{
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		SkipNameValidation:      &o.SkipNameValidation,
	})
}

// New returns a reconciler with o's defaults
// applied. Velero reads go through apiReader until SetupWithManager gives
// them a cache. Its seal workers run once started by a manager (or by a
// test calling StartJobs).
func New(c client.Client, apiReader client.Reader, scheme *runtime.Scheme, rec events.EventRecorder, o Options) *Reconciler {
	r := &Reconciler{
		Client: c, APIReader: apiReader, Velero: apiReader, Scheme: scheme, Recorder: rec,
		Clock:             cmp.Or[clock.Clock](o.Clock, clock.RealClock{}),
		Namespace:         o.Namespace,
		VeleroNamespace:   cmp.Or(o.VeleroNamespace, kit.DefaultVeleroNamespace),
		VeleroCredentials: cmp.Or(o.VeleroCredentialsSecret, kit.DefaultVeleroCredentialsSecret),
		SealConcurrency:   o.SealConcurrency,
		ClusterID:         o.ClusterID,
		BackupDeadline:    o.BackupDeadline,
		audit:             o.Audit,
	}
	if r.BackupDeadline <= 0 {
		r.BackupDeadline = kit.DefaultBackupDeadline
	}
	if r.audit == nil {
		r.audit = auditlog.New("", rec)
	}
	r.jobs = kit.NewPool(cmp.Or(max(o.MaxConcurrentSeals, 0), kit.DefaultConcurrentSeals), (*jobResult).failed)
	return r
}

// StartJobs runs the seal workers until ctx ends; a manager does it for a
// reconciler set up with SetupWithManager.
func (r *Reconciler) StartJobs(ctx context.Context) error { return r.jobs.Start(ctx) }

// Wakeups yields the schedules whose job has ended, for a test driving
// Reconcile by hand; a manager's controller consumes it otherwise.
func (r *Reconciler) Wakeups() <-chan event.GenericEvent { return r.jobs.Wake() }

// SetupWithManager registers the reconciler with opts (0 concurrent
// reconciles means DefaultScheduleReconciles): it watches BackupSchedules
// (spec and annotation changes), the Velero Backups it made (phase
// changes; Velero's Backup has no status subresource), OffsiteTargets
// (Ready changes) and its own seal workers.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = kit.DefaultScheduleReconciles
	}
	owned, err := labels.NewRequirement(v1alpha1.LabelSchedule, selection.Exists, nil)
	if err != nil {
		return err
	}
	veleroCache, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:           mgr.GetHTTPClient(),
		Scheme:               mgr.GetScheme(),
		Mapper:               mgr.GetRESTMapper(),
		DefaultNamespaces:    map[string]cache.Config{r.VeleroNamespace: {}},
		DefaultLabelSelector: labels.NewSelector().Add(*owned),
	})
	if err != nil {
		return fmt.Errorf("velero cache: %w", err)
	}
	if err := mgr.Add(veleroCache); err != nil {
		return err
	}
	if err := mgr.Add(r.jobs); err != nil {
		return err
	}
	r.Velero = veleroCache
	return ctrl.NewControllerManagedBy(mgr).
		Named("backupschedule").
		For(&v1alpha1.BackupSchedule{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(source.Kind(veleroCache, &velerov1.Backup{},
			handler.TypedEnqueueRequestsFromMapFunc(scheduleOfBackup), backupChanged())).
		Watches(&v1alpha1.OffsiteTarget{}, handler.EnqueueRequestsFromMapFunc(r.schedulesOfTarget),
			builder.WithPredicates(targetReadyChanged())).
		WatchesRawSource(source.Channel(r.jobs.WakeSource(), &handler.EnqueueRequestForObject{})).
		WithOptions(opts).
		Complete(r)
}

// Reconcile runs the steps in order (a step that fails stops the rest),
// then patches the status once and carries out the side effects.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &v1alpha1.BackupSchedule{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forgetScheduleMetrics(req.Namespace, req.Name)
			r.jobs.Forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its OffsiteBackups go with it (owner references)
	}
	st := newScheduleState(obj, r.Clock.Now())
	err := kit.RunSteps(ctx, st,
		r.parseSpec, r.checkTarget, r.checkScope, r.checkVolumeData, r.collectJob, r.followRun, r.retain, r.startRun,
	)
	return st.Result(ctx, err, r.finish(ctx, st))
}

// scheduleOfBackup maps a Velero Backup to the schedule its annotations name.
func scheduleOfBackup(_ context.Context, b *velerov1.Backup) []reconcile.Request {
	ns, name := b.Annotations[v1alpha1.AnnotationScheduleNamespace], b.Annotations[v1alpha1.AnnotationScheduleName]
	if ns == "" || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
}

// backupChanged passes phase changes and deletions of Velero Backups.
// Creations are this controller's own doing (or, at start, come with a
// reconcile of every schedule anyway), and progress updates are many and
// do not matter.
func backupChanged() predicate.TypedPredicate[*velerov1.Backup] {
	return predicate.TypedFuncs[*velerov1.Backup]{
		CreateFunc: func(event.TypedCreateEvent[*velerov1.Backup]) bool { return false },
		UpdateFunc: func(e event.TypedUpdateEvent[*velerov1.Backup]) bool {
			return e.ObjectOld.Status.Phase != e.ObjectNew.Status.Phase ||
				!e.ObjectOld.DeletionTimestamp.Equal(e.ObjectNew.DeletionTimestamp)
		},
	}
}

// targetReadyChanged passes OffsiteTarget events that change whether it is
// Ready, or its spec (its policy may now refuse or accept a schedule).
func targetReadyChanged() predicate.Predicate {
	ready := func(o client.Object) string {
		t, ok := o.(*v1alpha1.OffsiteTarget)
		if !ok {
			return ""
		}
		c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil {
			return ""
		}
		return string(c.Status) + "/" + c.Reason
	}
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			return ready(e.ObjectOld) != ready(e.ObjectNew) || e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration()
		},
	}
}

// schedulesOfTarget maps an OffsiteTarget to the schedules in its namespace
// that name it.
func (r *Reconciler) schedulesOfTarget(ctx context.Context, o client.Object) []reconcile.Request {
	return kit.Referrers(ctx, r.Client, &v1alpha1.BackupScheduleList{}, o.GetNamespace(), func(s client.Object) bool {
		bs, ok := s.(*v1alpha1.BackupSchedule)
		return ok && bs.Spec.OffsiteTargetRef.Name == o.GetName()
	})
}

// checkTarget finds the schedule's OffsiteTarget and checks it is Ready.
func (r *Reconciler) checkTarget(ctx context.Context, st *scheduleState) error {
	name := st.obj.Spec.OffsiteTargetRef.Name
	t, err := kit.ReadyTarget(ctx, r.Client, &st.State, st.obj.Namespace, name,
		fmt.Sprintf("OffsiteTarget %q (spec.offsiteTargetRef) does not exist in namespace %s: create it or name another", name, st.obj.Namespace))
	st.target = t
	return err
}
