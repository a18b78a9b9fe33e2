package drill

import (
	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
)

// IsolationFor is the Isolation a RestoreDrill's spec.workloads asks for;
// every drill is isolated.
func IsolationFor(w v1alpha1.DrillWorkloads) *Isolation {
	iso := &Isolation{
		Workloads:           WorkloadsMode(w.Mode),
		AllowDNS:            w.AllowDNS,
		Quota:               w.Quota,
		LimitDefault:        w.Limits.Default,
		LimitDefaultRequest: w.Limits.DefaultRequest,
		PodSecurity:         w.PodSecurity,
	}
	for _, k := range w.Run {
		iso.Run = append(iso.Run, string(k))
	}
	return iso
}

// Status is the changes as a RestoreDrill run records them; nil for nil.
func (c *Changes) Status() *v1alpha1.DrillWorkloadsReport {
	if c == nil {
		return nil
	}
	conv := func(in []KindCount) []v1alpha1.DrillKindCount {
		var out []v1alpha1.DrillKindCount
		for _, k := range in {
			out = append(out, v1alpha1.DrillKindCount{Kind: k.Kind, Count: int32(min(k.Count, 1<<31-1)), Change: k.Change}) //nolint:gosec // bounded above
		}
		return out
	}
	return &v1alpha1.DrillWorkloadsReport{Mode: v1alpha1.DrillWorkloadsMode(c.Workloads), Modified: conv(c.Modified), NotRestored: conv(c.NotRestored), Ran: conv(c.Ran)}
}

// AuditOf is a run's recorded changes as its audit entry records them;
// nil for nil.
func AuditOf(r *v1alpha1.DrillWorkloadsReport) *audit.WorkloadChanges {
	if r == nil {
		return nil
	}
	conv := func(in []v1alpha1.DrillKindCount) []audit.KindCount {
		var out []audit.KindCount
		for _, k := range in {
			out = append(out, audit.KindCount{Kind: k.Kind, Count: int(k.Count), Change: k.Change})
		}
		return out
	}
	return &audit.WorkloadChanges{Mode: string(r.Mode), Modified: conv(r.Modified), NotRestored: conv(r.NotRestored), Ran: conv(r.Ran)}
}
