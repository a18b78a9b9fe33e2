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

	// auditInMemory is what is left when the outbox is refused too: the
	// evidence lives in one process, and its restart loses it.
	auditInMemory = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_audit_entries_in_memory",
		Help: "Audit entries the bucket refused and the API server would not keep (outbox), held only in this controller's memory: a restart loses them.",
	}, []string{"namespace", "target"})

	// auditBurned counts seqs the entries this controller wrote name as
	// burned (docs/audit.md, "Burned sequence numbers"): an entry object or
	// claim the bucket stored wrong under lock, taken out of the chain. The
	// log goes on, but each burn is a finding an operator should see.
	auditBurned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_audit_burned_seqs_total",
		Help: "Audit log seqs taken out of the chain (burned: an entry object or claim the bucket stored wrong under lock) that entries this controller wrote name.",
	}, []string{"namespace", "target"})

	auditDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_audit_entries_dropped_total",
		Help: "Audit entries held in memory that were dropped (more than 1000 for one target): evidence lost.",
	}, []string{"namespace", "target"})
)

func init() {
	metrics.Registry.MustRegister(auditEntries, auditWriteFailures, auditInMemory, auditDropped, auditBurned)
}
