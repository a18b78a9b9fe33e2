package auditlog

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Audit metrics, registered with controller-runtime's registry. Label:
// the entry kind (seal, retention-delete, drill, restore, target-change,
// failure).
var (
	auditEntries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_audit_entries_total",
		Help: "Audit log entries written to offsite buckets, by kind.",
	}, []string{"kind"})

	auditWriteFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_audit_write_failures_total",
		Help: "Audit log entry writes that failed (the entry is kept in the cluster and written on a later try), by kind.",
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(auditEntries, auditWriteFailures)
}
