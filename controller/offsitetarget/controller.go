// Package offsitetarget reconciles OffsiteTargets: it resolves each
// target's Secrets, probes its bucket, and keeps its Ready condition, its
// metrics and its audit log's record of the configuration true to what it
// found.
package offsitetarget

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/auditlog"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/target"
)

// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitetargets,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitetargets/finalizers,verbs=update
// +kubebuilder:rbac:groups=safekeep.dev,resources=backupschedules,verbs=get;list;watch
// +kubebuilder:rbac:groups=safekeep.dev,resources=offsitetargets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",namespace=safekeep-system,resources=secrets,verbs=get;list;watch

// Reconciler keeps each OffsiteTarget's Ready condition true to
// its bucket: it resolves the target (recipients, credentials and signing
// key Secrets) and probes the bucket, then records the first failure as the
// Ready reason, or Verified.
//
// It re-checks a target every CheckInterval, sooner after a failed probe
// (RetryInterval), and at once when the target's spec or annotations or a
// Secret it references change. A spec that cannot work is not requeued at
// all: only editing it helps.
type Reconciler struct {
	client.Client
	// Recorder writes Events on Ready transitions.
	Recorder events.EventRecorder
	// Clock stamps condition transitions.
	Clock clock.PassiveClock
	// Namespace, when set, is the only namespace whose Secrets the
	// controller may read.
	Namespace string
	// CheckInterval is how often a Ready target's bucket is probed again,
	// RetryInterval how soon after a failed probe (both plus up to 10%
	// jitter); ProbeTimeout bounds one probe.
	CheckInterval, RetryInterval, ProbeTimeout time.Duration

	// Audit records the target's configuration when it is first Ready and
	// when it changes; nil records nothing. Its head for the target is
	// kept in status.auditHead.
	Audit *auditlog.Auditor

	// heads carries the targets whose audit head moved (NotifyHead).
	heads chan event.GenericEvent

	// audited remembers the status.audited each target was last given, by
	// UID: a reconcile that reads an older one from a cache not yet caught
	// up must not record the configuration again.
	auditedMu sync.Mutex
	audited   map[types.UID]*v1alpha1.AuditedTarget

	// resolved is each target as last resolved, for its deletion entry
	// when its Secrets go with it; kept marks the deletion entries the
	// Auditor keeps after a refused write.
	deletionMu sync.Mutex
	resolved   map[types.UID]*target.Target
	kept       map[types.UID]bool
}

// headQueue bounds the head notifications waiting for a reconcile; past it
// a notification is dropped and the next check records the head.
const headQueue = 1024

// NotifyHead asks for a reconcile of the OffsiteTarget namespace/name so
// that its status.auditHead catches up with the Auditor (an
// auditlog.HeadFunc). It never blocks.
func (r *Reconciler) NotifyHead(namespace, name string) {
	obj := &v1alpha1.OffsiteTarget{}
	obj.Namespace, obj.Name = namespace, name
	select {
	case r.heads <- event.GenericEvent{Object: obj}:
	default: // full (or not set up): the next check records it
	}
}

// SetupWithManager registers the reconciler, watching OffsiteTargets and the
// Secrets they reference.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, skipNameValidation bool) error {
	r.heads = make(chan event.GenericEvent, headQueue)
	return ctrl.NewControllerManagedBy(mgr).
		Named("offsitetarget").
		For(&v1alpha1.OffsiteTarget{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, kit.DeletionStarted()))).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.targetsForSecret)).
		WatchesRawSource(source.Channel(r.heads, &handler.EnqueueRequestForObject{})).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: &skipNameValidation}).
		Complete(r)
}

// Reconcile checks one OffsiteTarget and patches its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &v1alpha1.OffsiteTarget{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forgetTarget(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !obj.DeletionTimestamp.IsZero() {
		return r.deleting(ctx, obj)
	}
	if err := r.addFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	before := obj.DeepCopy()
	var v verdict
	defer func() {
		result, retErr = r.summarize(ctx, before, obj, v)
	}()
	v = r.check(ctx, obj)
	v.tampered = r.checkAuditVersions(ctx, obj, v)
	r.remember(v.resolved)
	r.auditTarget(ctx, obj, v)
	r.checkEvidence(obj)
	r.recordHead(obj, v)
	return ctrl.Result{}, nil
}

// verdict is the outcome of one check.
type verdict struct {
	// err is nil when the target is Ready, a *target.Error when it is not,
	// and any other error when the check itself could not run (an API
	// read failed, the context ended).
	err error
	// fingerprints of the parsed recipients; nil when they do not parse.
	fingerprints []string
	// resolved is the resolved target, when resolution succeeded.
	resolved *target.Target
	// tampered counts the objects under audit/ written outside the log
	// (checkAuditVersions); -1 when they could not be listed.
	tampered int
}

// check runs the checks in order: spec, namespace, Secrets, bucket probe.
func (r *Reconciler) check(ctx context.Context, obj *v1alpha1.OffsiteTarget) verdict {
	var v verdict
	rcpts, err := target.Validate(obj)
	if err != nil {
		if rcpts, rerr := target.Recipients(obj); rerr == nil { // the spec is wrong elsewhere
			v.fingerprints = target.Fingerprints(rcpts)
		}
		v.err = err
		return v
	}
	v.fingerprints = target.Fingerprints(rcpts)
	if r.Namespace != "" && obj.Namespace != r.Namespace {
		v.err = &target.Error{
			Reason: v1alpha1.ReasonCredentialsMissing,
			Message: fmt.Sprintf("the controller reads Secrets only in its namespace %s, and this OffsiteTarget is in %s: create the OffsiteTarget and its Secrets in %s",
				r.Namespace, obj.Namespace, r.Namespace),
		}
		return v
	}
	tg, err := target.Resolve(ctx, r.Client, obj)
	if err != nil {
		v.err = err
		return v
	}
	v.resolved = tg
	probeCtx, cancel := context.WithTimeout(ctx, r.ProbeTimeout)
	defer cancel()
	v.err = tg.Check(probeCtx)
	return v
}

// targetsForSecret maps a Secret to the OffsiteTargets of its namespace that
// reference it.
func (r *Reconciler) targetsForSecret(ctx context.Context, sec client.Object) []reconcile.Request {
	return kit.Referrers(ctx, r.Client, &v1alpha1.OffsiteTargetList{}, sec.GetNamespace(), func(o client.Object) bool {
		t, ok := o.(*v1alpha1.OffsiteTarget)
		if !ok {
			return false
		}
		creds := t.Spec.S3.CredentialsSecretRef
		audit := t.Spec.AuditKeySecretRef
		return (creds != nil && creds.Name == sec.GetName()) || t.Spec.SigningKeySecretRef.Name == sec.GetName() ||
			(audit != nil && audit.Name == sec.GetName())
	})
}
