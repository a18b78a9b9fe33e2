package backupschedule

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/safekeep-dev/safekeep/schedule"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Run results, the "result" label of safekeep_backupschedule_runs_total.
const (
	resultSealed          = "sealed"
	resultFailed          = "failed"
	resultPartiallyFailed = "partially_failed"
	resultBackupDeleted   = "backup_deleted"
	resultSealFailed      = "seal_failed"
	resultMissed          = "missed"
	resultTimedOut        = "timed_out"
)

// Schedule metrics, registered with controller-runtime's registry (served
// on the manager's metrics endpoint). Labels: the schedule's namespace and
// name.
var (
	lastSealTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_backupschedule_last_seal_timestamp_seconds",
		Help: "Unix time of the last successful seal of a BackupSchedule's backup.",
	}, []string{"namespace", "schedule"})

	sealDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "safekeep_seal_duration_seconds",
		Help: "Time taken to seal a Velero backup offsite, from the first object read to seal.json written.",
		// 1 s to about 4.5 h.
		Buckets: prometheus.ExponentialBuckets(1, 2.5, 12),
	}, []string{"namespace", "schedule"})

	sealBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_seal_bytes_total",
		Help: "Ciphertext bytes of sealed backups (objects, not counting the manifest and seal.json).",
	}, []string{"namespace", "schedule"})

	scheduleRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_backupschedule_runs_total",
		Help: "BackupSchedule runs by result: sealed, failed, partially_failed, backup_deleted, seal_failed, missed, timed_out.",
	}, []string{"namespace", "schedule", "result"})

	// scheduleInterval and scheduleCreated let alert rules find a schedule
	// that has not sealed for too long, or never has (deploy/prometheus).
	scheduleInterval = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_backupschedule_interval_seconds",
		Help: "Seconds from the BackupSchedule's last scheduled time to its next (its cron interval now); absent while suspended.",
	}, []string{"namespace", "schedule"})

	scheduleCreated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_backupschedule_created_timestamp_seconds",
		Help: "Unix time the BackupSchedule was created.",
	}, []string{"namespace", "schedule"})

	sealFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_seal_failures_total",
		Help: "Failed seals of BackupSchedule backups by reason: untrusted, conflict, lock_unavailable, signing_key, source, access_denied, bucket_missing, locked, timeout, error.",
	}, []string{"namespace", "schedule", "reason"})

	// untrustedSeals counts what the last listing of the bucket refused:
	// someone wrote there without the target's keys (deploy/prometheus).
	untrustedSeals = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_untrusted_seals",
		Help: "Seals of a BackupSchedule in the offsite bucket that are not signed by a key the target trusts, as of the last retention pass (ignored, never deleted).",
	}, []string{"namespace", "schedule"})

	// goneBackups counts the schedule's records whose trusted seal left
	// the bucket without retention deleting it (deploy/prometheus).
	goneBackups = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_offsite_gone_backups",
		Help: "OffsiteBackups of a BackupSchedule whose trusted seal is no longer in the bucket though retention did not delete it (Gone True), as of the last retention pass.",
	}, []string{"namespace", "schedule"})
)

func init() {
	metrics.Registry.MustRegister(lastSealTimestamp, sealDuration, sealBytes, scheduleRuns,
		scheduleInterval, scheduleCreated, sealFailures, untrustedSeals, goneBackups)
}

// forgetScheduleMetrics drops the series of a deleted schedule.
func forgetScheduleMetrics(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "schedule": name}
	lastSealTimestamp.DeletePartialMatch(l)
	sealDuration.DeletePartialMatch(l)
	sealBytes.DeletePartialMatch(l)
	scheduleRuns.DeletePartialMatch(l)
	scheduleInterval.DeletePartialMatch(l)
	scheduleCreated.DeletePartialMatch(l)
	sealFailures.DeletePartialMatch(l)
	untrustedSeals.DeletePartialMatch(l)
	goneBackups.DeletePartialMatch(l)
}

// observeSchedule queues the schedule's interval (ending at next; none
// when next is zero, as while suspended) and creation time.
func (st *scheduleState) observeSchedule(next time.Time) {
	ns, name := st.Key.Namespace, st.Key.Name
	created := float64(st.obj.CreationTimestamp.Unix())
	var interval time.Duration
	if st.sched != nil && !next.IsZero() {
		interval = cronInterval(*st.sched, st.Now, next)
	}
	st.After(func() {
		scheduleCreated.WithLabelValues(ns, name).Set(created)
		if interval > 0 {
			scheduleInterval.WithLabelValues(ns, name).Set(interval.Seconds())
		} else {
			scheduleInterval.DeleteLabelValues(ns, name)
		}
	})
}

// cronInterval is next minus the last scheduled time at or before now: the
// interval the schedule is in. It looks back by doubling windows (Due finds
// the latest time in each by bisection), up to six years; 0 when none.
func cronInterval(s schedule.Schedule, now, next time.Time) time.Duration {
	for back := max(next.Sub(now), time.Minute); back <= 6*366*24*time.Hour; back *= 2 {
		if due, _, _ := s.Due(now, time.Time{}, now.Add(-back), nil); due != nil {
			return next.Sub(*due)
		}
	}
	return 0
}

// countSealFailure queues a failed seal, by reason.
func (st *scheduleState) countSealFailure(err error) {
	ns, name, reason := st.Key.Namespace, st.Key.Name, sealFailureReason(err)
	st.After(func() { sealFailures.WithLabelValues(ns, name, reason).Inc() })
}

// sealFailureReason is the reason label of a seal error: a short, bounded
// vocabulary (never the error text).
func sealFailureReason(err error) string {
	switch {
	case errors.Is(err, seal.ErrUntrusted): // before conflict: an untrusted receipt is both
		return "untrusted"
	case errors.Is(err, seal.ErrSealConflict):
		return "conflict"
	case errors.Is(err, seal.ErrLockUnavailable):
		return "lock_unavailable"
	case errors.Is(err, seal.ErrSigningKey):
		return "signing_key"
	case errors.Is(err, seal.ErrNotCompleted), errors.Is(err, seal.ErrNoObjects), errors.Is(err, seal.ErrNotVeleroBackup):
		return "source"
	case errors.Is(err, storage.ErrAccessDenied):
		return "access_denied"
	case errors.Is(err, storage.ErrBucketMissing):
		return "bucket_missing"
	case errors.Is(err, storage.ErrLocked):
		return "locked"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "error"
}
