package restoredrill

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// Run results, the "result" label of safekeep_drill_runs_total.
const (
	drillResultPassed = "passed"
	drillResultFailed = "failed"
	drillResultError  = "error"
)

// RestoreDrill metrics, registered with controller-runtime's registry.
// Labels: the drill's namespace and name. The alert rules depend on these
// names. Gauges are set from the drill's status on every reconcile, so
// they survive a controller restart; counters count what this process saw.
var (
	drillLastSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_last_success_timestamp_seconds",
		Help: "Unix time the last passing run of a RestoreDrill ended.",
	}, []string{"namespace", "drill"})

	drillLastRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_last_run_timestamp_seconds",
		Help: "Unix time the last run of a RestoreDrill ended, whatever its result.",
	}, []string{"namespace", "drill"})

	drillLastPassed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_last_passed",
		Help: "1 when the last run of a RestoreDrill passed every check, 0 otherwise.",
	}, []string{"namespace", "drill"})

	drillRTO = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_rto_seconds",
		Help: "Recovery time of the last run of a RestoreDrill that reached a verified restore: its start to verified.",
	}, []string{"namespace", "drill"})

	drillMaxRTO = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_max_rto_seconds",
		Help: "Recovery-time objective of a RestoreDrill (spec.checks.maxRTO), when set.",
	}, []string{"namespace", "drill"})

	drillMaxPassAge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_max_pass_age_seconds",
		Help: "How old the last passing run of a RestoreDrill may get before it is overdue (spec.maxPassAge or its default).",
	}, []string{"namespace", "drill"})

	drillCreated = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "safekeep_drill_created_timestamp_seconds",
		Help: "Unix time a RestoreDrill was created (the alert on a drill that never passed counts from it).",
	}, []string{"namespace", "drill"})

	drillRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_drill_runs_total",
		Help: "RestoreDrill runs by result: passed, failed (a check failed), error (no verdict reached).",
	}, []string{"namespace", "drill", "result"})

	drillFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "safekeep_drill_failures_total",
		Help: "Failed checks of RestoreDrill runs, by check.",
	}, []string{"namespace", "drill", "check"})
)

func init() {
	metrics.Registry.MustRegister(drillLastSuccess, drillLastRun, drillLastPassed, drillRTO,
		drillMaxRTO, drillMaxPassAge, drillCreated, drillRuns, drillFailures)
}

// drillResultLabel is the runs_total label of a result.
func drillResultLabel(r v1alpha1.DrillRunResult) string {
	switch r {
	case v1alpha1.DrillRunPassed:
		return drillResultPassed
	case v1alpha1.DrillRunFailed:
		return drillResultFailed
	}
	return drillResultError
}

// countDrillRun counts a finished run and its failed checks.
func countDrillRun(namespace, name string, run *v1alpha1.DrillRun) {
	drillRuns.WithLabelValues(namespace, name, drillResultLabel(run.Result)).Inc()
	for _, c := range run.Checks {
		if !c.Passed {
			drillFailures.WithLabelValues(namespace, name, c.Name).Inc()
		}
	}
}

// setDrillGauges sets the gauges from the drill's status and spec;
// maxPassAge is the effective objective in seconds (0: unknown).
func setDrillGauges(d *v1alpha1.RestoreDrill, maxPassAge float64) {
	ns, name := d.Namespace, d.Name
	drillCreated.WithLabelValues(ns, name).Set(float64(d.CreationTimestamp.Unix()))
	if t := d.Status.LastPassTime; t != nil {
		drillLastSuccess.WithLabelValues(ns, name).Set(float64(t.Unix()))
	}
	if last := d.Status.LastRun; last != nil {
		end := last.StartTime
		if last.EndTime != nil {
			end = *last.EndTime
		}
		drillLastRun.WithLabelValues(ns, name).Set(float64(end.Unix()))
		passed := 0.0
		if last.Result == v1alpha1.DrillRunPassed {
			passed = 1
		}
		drillLastPassed.WithLabelValues(ns, name).Set(passed)
		if last.RTO != nil && last.RTO.Duration > 0 {
			drillRTO.WithLabelValues(ns, name).Set(last.RTO.Seconds())
		}
	}
	if m := d.Spec.Checks.MaxRTO; m != nil {
		drillMaxRTO.WithLabelValues(ns, name).Set(m.Seconds())
	} else {
		drillMaxRTO.DeleteLabelValues(ns, name)
	}
	if maxPassAge > 0 {
		drillMaxPassAge.WithLabelValues(ns, name).Set(maxPassAge)
	}
}

// forgetDrillMetrics drops the series of a deleted drill.
func forgetDrillMetrics(namespace, name string) {
	l := prometheus.Labels{"namespace": namespace, "drill": name}
	for _, v := range []*prometheus.GaugeVec{drillLastSuccess, drillLastRun, drillLastPassed, drillRTO, drillMaxRTO, drillMaxPassAge, drillCreated} {
		v.DeletePartialMatch(l)
	}
	drillRuns.DeletePartialMatch(l)
	drillFailures.DeletePartialMatch(l)
}
