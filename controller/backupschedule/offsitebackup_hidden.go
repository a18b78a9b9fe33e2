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

// hiddenCondition is the Hidden condition of a backup listed as e, whose
// sealed volume blobs blobs are under delete markers: True naming what
// delete markers hide of its seal and what was overwritten with other
// bytes (attacks on a versioned bucket that object lock survived), each by
// its kind; False when nothing is.
func hiddenCondition(e seal.Entry, blobs []seal.Hidden) *metav1.Condition {
	hidden := append(e.HiddenObjects(), blobs...)
	if len(hidden) == 0 {
		return &metav1.Condition{Type: v1alpha1.ConditionHidden, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNothingHidden,
			Message: "no sealed object is hidden by a delete marker or overwritten"}
	}
	var markers, over []seal.Hidden
	for _, h := range hidden {
		if h.Overwritten {
			over = append(over, h)
		} else {
			markers = append(markers, h)
		}
	}
	var parts []string
	reason := v1alpha1.ReasonOverwritten
	if len(markers) > 0 {
		reason = v1alpha1.ReasonDeleteMarkers
		parts = append(parts, fmt.Sprintf("%d sealed object(s) hidden by delete markers since %s (someone deleted them with the bucket's credentials; "+
			"object lock kept the versions, which restores and drills read): %s", len(markers), earliest(markers), objectNames(markers)))
	}
	if len(over) > 0 {
		parts = append(parts, fmt.Sprintf("%d sealed object(s) overwritten with other bytes since %s (someone put new versions over them with the bucket's credentials; "+
			"restores and drills read the sealed versions underneath): %s", len(over), earliest(over), objectNames(over)))
	}
	msg := fmt.Sprintf("%s; bring them back with 'safekeep recover --backup %s/%s'", strings.Join(parts, "; "), e.Schedule, e.Backup)
	return &metav1.Condition{Type: v1alpha1.ConditionHidden, Status: metav1.ConditionTrue, Reason: reason, Message: msg}
}

// earliest is the time of the oldest marker or overwrite among hidden.
func earliest(hidden []seal.Hidden) string {
	first := hidden[0].MarkerAt
	for _, h := range hidden {
		if h.MarkerAt.Before(first) {
			first = h.MarkerAt
		}
	}
	return first.UTC().Format(time.RFC3339)
}

func objectNames(hidden []seal.Hidden) string {
	names := make([]string, len(hidden))
	for i, h := range hidden {
		names[i] = h.Object
	}
	return strings.Join(names, ", ")
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
	msg, reason := now.Message, now.Reason
	st.After(func() {
		r.Recorder.Eventf(ob, nil, corev1.EventTypeWarning, reason, "Check", "%s", kit.Note(msg))
	})
}

// countHidden queues the number of hidden objects of the target's trusted
// seals the pass found.
func (st *scheduleState) countHidden(target string, n int) {
	ns := st.Key.Namespace
	st.After(func() { kit.HiddenObjects.WithLabelValues(ns, target).Set(float64(n)) })
}
