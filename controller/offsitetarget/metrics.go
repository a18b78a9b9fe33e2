package offsitetarget

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/safekeep-dev/safekeep/controller/internal/kit"
)

// Metrics are registered with controller-runtime's registry, which the
// manager serves on its metrics endpoint (--metrics-bind-address), next to
// controller-runtime's own (workqueue, reconcile counts and latencies).
// Each kind's metrics live beside its reconciler and are registered from an
// init function, once per process; every name starts with "safekeep_".

// OffsiteTarget metrics. Labels: the target's namespace and name.
var (
	// targetReady is 1 while an OffsiteTarget is Ready, 0 otherwise; the
	// series goes away with the target.
	targetReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_offsite_target_ready",
		Help: "1 when the OffsiteTarget is Ready (endpoint, bucket, credentials, object lock, recipients and signing key all check out), 0 otherwise.",
	}, []string{"namespace", "name"})

	// auditTampered counts the objects under audit/ with a delete marker
	// or more than one version (AuditTampered), as of the last listing;
	// the series goes away with the target.
	auditTampered = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_audit_tampered_objects",
		Help: "Objects under the OffsiteTarget's audit/ (entries, claims, segments) with a delete marker or more than one version: writes the audit log never makes. As of the last check of the target.",
	}, []string{"namespace", "target"})

	// targetChecks counts checks by result (the Ready reason).
	targetChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_offsite_target_checks_total",
		Help: "OffsiteTarget checks by result: the Ready reason, Verified or the failure.",
	}, []string{"namespace", "name", "reason"})
)

func init() {
	metrics.Registry.MustRegister(targetReady, targetChecks, auditTampered)
}

// forgetTarget drops a deleted target's series.
func forgetTarget(namespace, name string) {
	labels := prometheus.Labels{"namespace": namespace, "name": name}
	targetReady.Delete(labels)
	auditTampered.DeleteLabelValues(namespace, name)
	targetChecks.DeletePartialMatch(labels)
	kit.ForgetTarget(namespace, name)
}
