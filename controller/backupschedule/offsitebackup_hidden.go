package backupschedule

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/seal"
)

// hiddenCondition is the Hidden condition of a backup listed as e: True
// naming what delete markers hide of its seal (an attack on a versioned
// bucket that object lock survived), False when nothing is.
func hiddenCondition(e seal.Entry) *metav1.Condition {
	hidden := e.HiddenObjects()
	if len(hidden) == 0 {
		return &metav1.Condition{Type: v1alpha1.ConditionHidden, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNothingHidden,
			Message: "no sealed object is hidden by a delete marker"}
	}
	names := make([]string, len(hidden))
	first := hidden[0].MarkerAt
	for i, h := range hidden {
		names[i] = h.Object
		if h.MarkerAt.Before(first) {
			first = h.MarkerAt
		}
	}
	msg := fmt.Sprintf("%d sealed object(s) hidden by delete markers since %s (someone deleted them with the bucket's credentials; "+
		"object lock kept the versions, which restores and drills read): %s; bring them back with 'safekeep recover --backup %s/%s'",
		len(hidden), first.UTC().Format(time.RFC3339), strings.Join(names, ", "), e.Schedule, e.Backup)
	return &metav1.Condition{Type: v1alpha1.ConditionHidden, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonDeleteMarkers, Message: msg}
}

// hiddenEvent queues a Warning Event on ob when its Hidden condition turns
// True or names other objects than before (a pass that finds the same
// markers again says nothing new).
func (r *Reconciler) hiddenEvent(st *scheduleState, before, ob *v1alpha1.OffsiteBackup) {
	now := meta.FindStatusCondition(ob.Status.Conditions, v1alpha1.ConditionHidden)
	if now == nil || now.Status != metav1.ConditionTrue {
		return
	}
	if was := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionHidden); was != nil &&
		was.Status == metav1.ConditionTrue && was.Message == now.Message {
		return
	}
	msg := now.Message
	st.After(func() {
		r.Recorder.Eventf(ob, nil, corev1.EventTypeWarning, v1alpha1.ReasonDeleteMarkers, "Check", "%s", kit.Note(msg))
	})
}

// countHidden queues the number of hidden objects of the target's trusted
// seals the pass found.
func (st *scheduleState) countHidden(target string, n int) {
	ns := st.Key.Namespace
	st.After(func() { kit.HiddenObjects.WithLabelValues(ns, target).Set(float64(n)) })
}
