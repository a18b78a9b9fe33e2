package offsitetarget

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/target"
)

// requeueJitter is the most a requeue interval is stretched by, as a
// fraction, so that targets created together do not probe in step.
const requeueJitter = 0.1

// summarize writes v into obj's status (Ready, recipient fingerprints,
// observedGeneration), patches it when it changed, records an Event when
// Ready changes, updates the metrics and decides when to look again.
func (r *Reconciler) summarize(ctx context.Context, before, obj *v1alpha1.OffsiteTarget, v verdict) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	var te *target.Error
	isTargetErr := errors.As(v.err, &te)
	if v.err != nil && !isTargetErr {
		// The check could not run: keep what status says, say we are
		// still at it on a first pass, and let the workqueue back off.
		if meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady) == nil {
			r.setReady(obj, metav1.ConditionUnknown, v1alpha1.ReasonReconciling, "the first check has not completed")
			if err := r.patchStatus(ctx, before, obj); err != nil {
				return ctrl.Result{}, errors.Join(v.err, err)
			}
		}
		return ctrl.Result{}, v.err
	}

	status, reason, msg := metav1.ConditionTrue, v1alpha1.ReasonVerified, readyMessage(obj, v.resolved)
	if isTargetErr {
		status, reason, msg = metav1.ConditionFalse, te.Reason, te.Message
	}
	r.setReady(obj, status, reason, msg)
	obj.Status.RecipientFingerprints = v.fingerprints
	obj.Status.ObservedGeneration = obj.Generation
	if err := r.patchStatus(ctx, before, obj); err != nil {
		return ctrl.Result{}, err
	}

	r.tamperedEvent(before, obj)
	if v.tampered >= 0 { // else the last count stands
		auditTampered.WithLabelValues(obj.Namespace, obj.Name).Set(float64(v.tampered))
	}
	labels := []string{obj.Namespace, obj.Name}
	targetChecks.WithLabelValues(obj.Namespace, obj.Name, reason).Inc()
	if status == metav1.ConditionTrue {
		targetReady.WithLabelValues(labels...).Set(1)
	} else {
		targetReady.WithLabelValues(labels...).Set(0)
	}
	if eventType, why, note, ok := kit.ReadyEvent(before.Status.Conditions, obj.Status.Conditions); ok {
		if r.Recorder != nil {
			r.Recorder.Eventf(obj, nil, eventType, why, "Check", "%s", kit.Note(note))
		}
		log.Info("offsite target ready changed", "ready", status, "reason", reason)
	} else {
		log.V(1).Info("offsite target checked", "ready", status, "reason", reason)
	}
	return r.next(te), nil
}

// next says when to check again after a verdict: a spec error never (until
// the spec changes), a probe failure after RetryInterval, anything else
// after CheckInterval (a Secret change triggers a check at once).
func (r *Reconciler) next(te *target.Error) ctrl.Result {
	switch {
	case te == nil:
		return ctrl.Result{RequeueAfter: wait.Jitter(r.CheckInterval, requeueJitter)}
	case te.Kind() == target.KindSpec:
		return ctrl.Result{}
	case te.Kind() == target.KindRemote:
		return ctrl.Result{RequeueAfter: wait.Jitter(r.RetryInterval, requeueJitter)}
	}
	return ctrl.Result{RequeueAfter: wait.Jitter(r.CheckInterval, requeueJitter)}
}

// setReady sets the Ready condition; its transition time moves only when its
// status does.
func (r *Reconciler) setReady(obj *v1alpha1.OffsiteTarget, status metav1.ConditionStatus, reason, msg string) {
	kit.SetCondition(&obj.Status.Conditions, obj.Generation, r.Clock.Now(), v1alpha1.ConditionReady, status, reason, msg)
}

// patchStatus merge-patches obj's status when it differs from before's.
func (r *Reconciler) patchStatus(ctx context.Context, before, obj *v1alpha1.OffsiteTarget) error {
	return kit.PatchStatus(ctx, r.Client, before, obj)
}

// readyMessage describes a target that passed every check.
func readyMessage(obj *v1alpha1.OffsiteTarget, tg *target.Target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bucket %s at %s is reachable and the credentials are accepted", obj.Spec.S3.Bucket, strings.TrimSuffix(obj.Spec.S3.Endpoint, "/"))
	if ol := obj.Spec.ObjectLock; ol != nil {
		fmt.Fprintf(&b, "; object lock is enabled (%s, %s)", ol.Mode, plural.S(ol.RetainDays, "day"))
	}
	n := len(obj.Spec.Recipients)
	if tg != nil {
		n = len(tg.Recipients)
	}
	b.WriteString("; " + plural.S(n, "recipient"))
	if tg != nil && tg.HasSigner {
		fmt.Fprintf(&b, "; signing key %s", tg.Signer.Public().KeyID())
	}
	if tg != nil && tg.HasAuditSigner {
		fmt.Fprintf(&b, "; audit key %s", tg.AuditSigner.Public().KeyID())
	}
	return b.String()
}
