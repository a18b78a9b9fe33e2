package kit

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// conflictRetry is how soon a reconcile that lost the optimistic lock to
// a newer version of its object is repeated.
const conflictRetry = 50 * time.Millisecond

// State is what one reconcile knows and has decided, besides the object's
// status: why the object is not Ready (the first reason wins), when to
// look again (the earliest time asked for wins), and the side effects
// (Events, metrics) that must happen once. Those are queued and carried
// out by Flush only after the status patch succeeded, so a reconcile that
// loses a race to a newer version of its object repeats nothing.
type State struct {
	Key types.NamespacedName
	Now time.Time

	readyReason, readyMessage string
	requeueAt                 time.Time
	events                    []queuedEvent
	after                     []func()
}

type queuedEvent struct {
	related                 runtime.Object
	eventType, reason, note string
}

// NewState starts the state of a reconcile of obj at now.
func NewState(obj client.Object, now time.Time) State {
	return State{Key: client.ObjectKeyFromObject(obj), Now: now}
}

// NotReady records why the object cannot work; the first reason wins.
func (s *State) NotReady(reason, format string, args ...any) {
	if s.readyReason == "" {
		s.readyReason, s.readyMessage = reason, fmt.Sprintf(format, args...)
	}
}

// NotReadyReason is the reason given to NotReady, or "".
func (s *State) NotReadyReason() string { return s.readyReason }

// WakeAt asks for a reconcile at t (the earliest asked for wins).
func (s *State) WakeAt(t time.Time) {
	if !t.IsZero() && (s.requeueAt.IsZero() || t.Before(s.requeueAt)) {
		s.requeueAt = t
	}
}

// Event queues an Event on the object (related, when not nil, names a
// second object), written by Flush.
func (s *State) Event(related runtime.Object, eventType, reason, format string, args ...any) {
	s.events = append(s.events, queuedEvent{related: related, eventType: eventType, reason: reason, note: fmt.Sprintf(format, args...)})
}

// After queues f (a metric update) to run in Flush.
func (s *State) After(f func()) { s.after = append(s.after, f) }

// PatchStatus writes obj's status when it differs from before's, with an
// optimistic lock: a newer version of the object means this reconcile
// decided on stale data (Result then repeats it).
func PatchStatus(ctx context.Context, c client.Client, before, obj client.Object) error {
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		return fmt.Errorf("patch status of %s: %w", client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// PatchStatus queues the Event of a change of the Ready condition (from
// beforeConds to conds, see ReadyEvent) and then writes obj's status with
// PatchStatus: the Event goes out only when the status it reports does.
func (s *State) PatchStatus(ctx context.Context, c client.Client, before, obj client.Object, beforeConds, conds []metav1.Condition) error {
	s.QueueReadyEvent(beforeConds, conds)
	return PatchStatus(ctx, c, before, obj)
}

// Flush writes the queued Events on obj (logged too, notes bounded by
// Note) and runs the queued functions. Call it after the status patch.
func (s *State) Flush(ctx context.Context, rec events.EventRecorder, obj runtime.Object) {
	log := logf.FromContext(ctx)
	for _, e := range s.events {
		note := Note(e.note)
		log.Info("event", "type", e.eventType, "reason", e.reason, "note", note)
		if rec != nil {
			rec.Eventf(obj, e.related, e.eventType, e.reason, e.reason, "%s", note)
		}
	}
	for _, f := range s.after {
		f()
	}
	s.events, s.after = nil, nil
}

// Result is what Reconcile returns after its steps (err, the first step
// error) and the patch (perr): a lost optimistic lock repeats the
// reconcile at once, errors are returned (controller-runtime backs off),
// else the reconcile wakes at the time asked for.
func (s *State) Result(ctx context.Context, err, perr error) (ctrl.Result, error) {
	if perr != nil {
		if apierrors.IsConflict(perr) && err == nil {
			logf.FromContext(ctx).V(1).Info("object changed during reconcile, repeating")
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		err = joinErr(err, perr)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if s.requeueAt.IsZero() {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{RequeueAfter: max(s.requeueAt.Sub(s.Now), 10*time.Millisecond)}, nil
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	return fmt.Errorf("%w; %w", a, b)
}

// SetCondition sets a condition at now for generation gen, keeping the
// transition time when the status does not change; the message is
// bounded by Message.
func SetCondition(conds *[]metav1.Condition, gen int64, now time.Time, condType string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{
		Type: condType, Status: status, Reason: reason, Message: Message(msg),
		ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now),
	})
}

// RemoveAnnotation removes key from obj's annotations with a merge patch
// (obj itself is left as it is); an object already gone is no error.
func RemoveAnnotation(ctx context.Context, c client.Client, obj client.Object, key string) error {
	target := obj.DeepCopyObject().(client.Object) //nolint:forcetypeassert // a copy of a client.Object is one
	p := []byte(`{"metadata":{"annotations":{"` + key + `":null}}}`)
	if err := c.Patch(ctx, target, client.RawPatch(types.MergePatchType, p)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove %s from %s: %w", key, client.ObjectKeyFromObject(obj), err)
	}
	return nil
}

// RunSteps runs a reconcile's steps in order on st; a step that fails
// stops the rest, and its error is returned.
func RunSteps[S any](ctx context.Context, st S, steps ...func(context.Context, S) error) error {
	for _, step := range steps {
		if err := step(ctx, st); err != nil {
			return err
		}
	}
	return nil
}
