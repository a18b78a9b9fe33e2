package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Run results, the "result" label of safekeep_backupschedule_runs_total.
const (
	resultSealed          = "sealed"
	resultFailed          = "failed"
	resultPartiallyFailed = "partially_failed"
	resultBackupDeleted   = "backup_deleted"
	resultSealFailed      = "seal_failed"
	resultMissed          = "missed"
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
		Help: "BackupSchedule runs by result: sealed, failed, partially_failed, backup_deleted, seal_failed, missed.",
	}, []string{"namespace", "schedule", "result"})
)

func init() {
	metrics.Registry.MustRegister(lastSealTimestamp, sealDuration, sealBytes, scheduleRuns)
}

// forgetScheduleMetrics drops the series of a deleted schedule.
func forgetScheduleMetrics(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "schedule": name}
	lastSealTimestamp.DeletePartialMatch(l)
	sealDuration.DeletePartialMatch(l)
	sealBytes.DeletePartialMatch(l)
	scheduleRuns.DeletePartialMatch(l)
}
