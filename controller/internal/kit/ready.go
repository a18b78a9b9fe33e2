package kit

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// ReadyEvent is the one rule for Events about Ready, on every kind: when
// Ready's status or reason differs between the conditions before and after
// a reconcile (a first Ready included), an Event with the new reason and
// message, Warning unless Ready is True. ok is false when nothing changed.
func ReadyEvent(before, after []metav1.Condition) (eventType, reason, note string, ok bool) {
	now := meta.FindStatusCondition(after, v1alpha1.ConditionReady)
	if now == nil {
		return "", "", "", false
	}
	was := meta.FindStatusCondition(before, v1alpha1.ConditionReady)
	if was != nil && was.Status == now.Status && was.Reason == now.Reason {
		return "", "", "", false
	}
	eventType = corev1.EventTypeNormal
	if now.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	return eventType, now.Reason, now.Message, true
}

// QueueReadyEvent queues ReadyEvent's Event, if any, on the state.
func (s *State) QueueReadyEvent(before, after []metav1.Condition) {
	if t, reason, note, ok := ReadyEvent(before, after); ok {
		s.Event(nil, t, reason, "%s", note)
	}
}

// CheckDurations marks the state not Ready (InvalidSpec) when a duration of
// obj's spec did not parse: a value stored before the schema checked it,
// which the controller must neither act on as zero nor choke on.
func CheckDurations(s *State, obj any) {
	if err := v1alpha1.CheckDurations(obj); err != nil {
		s.NotReady(v1alpha1.ReasonInvalidSpec, "%v; the object was stored before the schema checked durations: correct the field", err)
	}
}
