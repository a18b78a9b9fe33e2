package kit

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/schedule"
)

// DueRun is schedule.Due for a scheduled resource (BackupSchedule,
// RestoreDrill): its last schedule time and creation time from the object,
// startingDeadlineSeconds as the API holds it.
func DueRun(s schedule.Schedule, now time.Time, last *metav1.Time, created time.Time, deadlineSeconds *int64) (due *time.Time, missed int, next time.Time) {
	var since time.Time
	if last != nil {
		since = last.Time
	}
	var deadline *time.Duration
	if deadlineSeconds != nil {
		d := time.Duration(*deadlineSeconds) * time.Second
		deadline = &d
	}
	return s.Due(now, since, created, deadline)
}

// ReadyOf is the Ready condition of a scheduled resource: False with the
// reason found (readyReason non-empty), else True as Suspended or Scheduled
// with its next run time in the schedule's zone.
func ReadyOf(readyReason, readyMessage string, suspended bool, next *metav1.Time, sched *schedule.Schedule) (metav1.ConditionStatus, string, string) {
	switch {
	case readyReason != "":
		return metav1.ConditionFalse, readyReason, readyMessage
	case suspended:
		return metav1.ConditionTrue, v1alpha1.ReasonSuspended, "spec.suspend is set: no new runs start"
	}
	msg := "runs are scheduled"
	if next != nil && sched != nil {
		msg = "next run at " + next.In(sched.Location()).Format(time.RFC3339)
	}
	return metav1.ConditionTrue, v1alpha1.ReasonScheduled, msg
}

// MissedMessage says that the latest missed run of a scheduled resource
// did not start within its starting deadline; false when there is none.
func MissedMessage(s schedule.Schedule, now time.Time, last *metav1.Time, created time.Time, deadlineSeconds *int64) (string, bool) {
	latest, _, _ := DueRun(s, now, last, created, nil)
	if latest == nil {
		return "", false
	}
	var deadline time.Duration
	if deadlineSeconds != nil {
		deadline = time.Duration(*deadlineSeconds) * time.Second
	}
	return fmt.Sprintf("the run scheduled at %s did not start within startingDeadlineSeconds (%s): skipped",
		latest.In(s.Location()).Format(time.RFC3339), deadline), true
}

// ParseSchedule parses a scheduled resource's cron expression and time
// zone. An invalid spec is terminal: the state is not Ready, next (the
// status's next schedule time) is cleared, and nil is returned; nothing
// requeues it but a spec change.
func ParseSchedule(st *State, expr, zone string, next **metav1.Time) *schedule.Schedule {
	sch, err := schedule.Parse(expr, zone)
	if err != nil {
		reason := v1alpha1.ReasonInvalidSchedule
		if errors.Is(err, schedule.ErrInvalidTimeZone) {
			reason = v1alpha1.ReasonInvalidTimeZone
		}
		st.NotReady(reason, "%s", err.Error())
		*next = nil
		return nil
	}
	return &sch
}

// RunNowTime reads v1alpha1.AnnotationRunNow's value, an RFC 3339 time (the
// only value documented; the admission policy refuses others). ok is false
// for anything else: the request is refused with an Event rather than run
// under a name nobody asked for.
func RunNowTime(v string) (t time.Time, ok bool) {
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// RunNowRefused queues the Event that refuses a run-now value that is not
// an RFC 3339 time.
func (s *State) RunNowRefused(v string) {
	s.Event(nil, corev1.EventTypeWarning, "RunNowRefused",
		"annotation %s=%q is not an RFC 3339 time (such as 2026-01-31T08:00:00Z): no run was started; use safekeep backup now or safekeep drill run",
		v1alpha1.AnnotationRunNow, v)
}

// Ready is the Ready condition of a scheduled resource from what the
// reconcile found: see ReadyOf.
func (s *State) Ready(suspended bool, next *metav1.Time, sched *schedule.Schedule) (metav1.ConditionStatus, string, string) {
	return ReadyOf(s.readyReason, s.readyMessage, suspended, next, sched)
}

// ReportMissed records on condType of conds (generation gen) and in a
// Warning Event that every missed run of a scheduled resource is past its
// starting deadline, once per such run; it reports whether it did.
func (s *State) ReportMissed(conds *[]metav1.Condition, gen int64, condType string, sched schedule.Schedule,
	last *metav1.Time, created time.Time, deadlineSeconds *int64) bool {
	msg, ok := MissedMessage(sched, s.Now, last, created, deadlineSeconds)
	if !ok {
		return false
	}
	if c := meta.FindStatusCondition(*conds, condType); c != nil && c.Reason == v1alpha1.ReasonMissedDeadline && c.Message == msg {
		return false
	}
	SetCondition(conds, gen, s.Now, condType, metav1.ConditionFalse, v1alpha1.ReasonMissedDeadline, msg)
	s.Event(nil, corev1.EventTypeWarning, v1alpha1.ReasonMissedDeadline, "%s", msg)
	return true
}
