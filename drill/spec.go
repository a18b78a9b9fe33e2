package drill

import (
	"cmp"
	"slices"
	"strings"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/volume"
)

// MaxVolumesRecorded bounds the volumes a run's status and audit entry
// list (failed ones first).
const MaxVolumesRecorded = 32

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

// VolumesStatus is the Level 1 and Level 2 checks of each volume as a RestoreDrill run
// records it: failed volumes first, at most MaxVolumesRecorded.
func VolumesStatus(in []volume.Verified, restored []RestoredVolume) []v1alpha1.DrillVolumeResult {
	var out []v1alpha1.DrillVolumeResult
	at := map[string]int{}
	for _, v := range in {
		r := v1alpha1.DrillVolumeResult{Namespace: v.Volume.Namespace, Pod: v.Volume.Pod, Volume: v.Volume.Volume,
			Files: v.Files, Bytes: v.Bytes, Passed: v.OK()}
		if !v.OK() {
			r.Message = cutMessage(v.Findings[0].String(), 1024)
		}
		at[volume.Name(v.Volume)] = len(out)
		out = append(out, r)
	}
	for _, rv := range restored {
		i, ok := at[volume.Name(rv.Volume)]
		if !ok { // Level 1 skipped: it reads every sealed volume or fails the run
			i = len(out)
			out = append(out, v1alpha1.DrillVolumeResult{Namespace: rv.Volume.Namespace, Pod: rv.Volume.Pod, Volume: rv.Volume.Volume, Passed: true,
				NotVerified: v1alpha1.VolumeNotVerifiedSkipped})
		}
		out[i].Restored = &v1alpha1.DrillVolumeRestored{Files: rv.Files, Bytes: rv.Bytes, MatchedFiles: rv.MatchedFiles, MatchedBytes: rv.MatchedBytes,
			Passed: rv.Passed(), Reason: rv.Reason, Message: cutMessage(rv.Message, 1024)}
		out[i].Passed = out[i].Passed && rv.Passed()
	}
	slices.SortStableFunc(out, func(a, b v1alpha1.DrillVolumeResult) int {
		return cmp.Compare(boolInt(a.Passed), boolInt(b.Passed))
	})
	return out[:min(len(out), MaxVolumesRecorded)]
}

// cutMessage cuts s to at most n bytes, on a rune boundary, marking the cut.
func cutMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n-len("...")], "") + "..."
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AuditVolumes is a run's recorded volumes as its audit entry records
// them, Level 1 and Level 2: counts and a digest of each volume's name,
// never a name.
func AuditVolumes(in []v1alpha1.DrillVolumeResult) []audit.VolumeCheck {
	var out []audit.VolumeCheck
	for _, v := range in {
		c := audit.VolumeCheck{Volume: audit.NameDigest(v.Namespace + "/" + v.Pod + "/" + v.Volume), Files: v.Files, Bytes: v.Bytes, Passed: v.Passed,
			NotVerified: v.NotVerified} // the API's reasons are the entry's (v1alpha1.VolumeNotVerifiedSkipped is audit's)
		if r := v.Restored; r != nil {
			// Not r.Message: it may name why a volume was unreadable.
			c.Restored = &audit.VolumeRestored{Files: r.Files, Bytes: r.Bytes, MatchedFiles: r.MatchedFiles, MatchedBytes: r.MatchedBytes,
				Passed: r.Passed, Reason: r.Reason}
		}
		out = append(out, c)
	}
	return out
}
