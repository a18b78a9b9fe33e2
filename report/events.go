package report

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/plural"
)

// Event is one audit entry of the period as a row: what the CSV format
// writes.
type Event struct {
	Time    time.Time
	Seq     uint64
	Kind    string
	Subject string
	Actor   string
	// Result is the outcome: sealed, deleted, passed, failed, created,
	// updated, unreadable.
	Result string
	// Details are the entry's other facts as "key=value" pairs joined by
	// "; ".
	Details string
}

// Events lists the period's entries, one Event each, in sequence order.
func (r *Report) Events() []Event {
	var ev []Event
	add := func(e Event) { ev = append(ev, e) }
	for _, s := range r.Schedules {
		for _, b := range s.Backups {
			d := kv("objects", b.Objects, "ciphertextBytes", b.CiphertextBytes, "sealDigest", b.SealDigest,
				"recipients", strings.Join(b.Recipients, ","), "offsite", b.Offsite)
			if b.RetainUntil != nil {
				d += "; retainUntil=" + b.RetainUntil.Format(time.RFC3339)
			}
			if b.Volumes != nil {
				d += "; volumes=" + volumesText(b.Volumes)
			}
			add(Event{b.Time, b.Seq, string(audit.KindSeal), subject(b.Schedule, b.Name), b.Actor, "sealed", d})
		}
	}
	for _, d := range r.Drills {
		for _, run := range d.RunList {
			det := kv("run", run.Run, "backup", subject(run.Schedule, run.Backup),
				"rtoSeconds", run.RTOSeconds, "maxRTOSeconds", run.MaxRTOSeconds)
			if v := drillVolumesText(run.Volumes); v != "" {
				det += "; volumes=" + v
			}
			if v := restoredVolumesText(run.Volumes); v != "" {
				det += "; restoredVolumes=" + v
			}
			if c := checksText(run.FailedChecks); c != "" {
				det += "; failedChecks=" + c
			}
			add(Event{run.Time, run.Seq, string(audit.KindDrill), subject(d.Namespace, d.Name), run.Actor, passFail(run.Passed), det})
		}
	}
	for _, x := range r.Restores {
		det := kv("user", x.User, "host", x.Host, "destination", x.Destination, "namespaceMapping", mapping(x.NamespaceMapping),
			"stagingLocation", x.StagingLocation)
		if v := restoredVolumesText(x.Volumes); v != "" {
			det += "; restoredVolumes=" + v
		}
		if c := checksText(x.FailedChecks); c != "" {
			det += "; failedChecks=" + c
		}
		add(Event{x.Time, x.Seq, string(audit.KindRestore), subject(x.Schedule, x.Backup), x.Actor, passFail(x.Passed), det})
	}
	for _, x := range r.Deletions {
		add(Event{x.Time, x.Seq, string(audit.KindRetentionDelete), subject(x.Schedule, x.Backup), x.Actor, "deleted",
			kv("namespace", x.Namespace, "reason", x.Reason)})
	}
	for _, x := range r.TargetChanges {
		add(Event{x.Time, x.Seq, string(audit.KindTargetChange), subject(x.Namespace, x.Target), x.Actor, x.Change,
			kv("fields", strings.Join(x.Fields, ","), "endpoint", x.Endpoint, "bucket", x.Bucket,
				"recipients", strings.Join(x.Recipients, ","), "signingKey", x.SigningKey, "lockMode", x.LockMode, "lockDays", x.LockDays,
				"changedBy", x.ChangedBy, "usedBy", strings.Join(x.UsedBy, ","))})
	}
	for _, x := range r.Failures {
		add(Event{x.Time, x.Seq, string(audit.KindFailure), subject(x.Schedule, x.Backup), x.Actor, "failed",
			kv("operation", x.Operation, "namespace", x.Namespace, "reason", x.Reason, "message", x.Message)})
	}
	for _, x := range r.Recoveries {
		add(Event{x.Time, x.Seq, string(audit.KindRecover), subject(x.Schedule, x.Backup), x.Actor, x.Action,
			kv("key", x.Key, "markerTime", x.MarkerTime.Format(time.RFC3339), "version", x.Version, "error", x.Error)})
	}
	for _, x := range r.Unreadable {
		add(Event{x.Time, x.Seq, x.Kind, x.Subject, x.Actor, "unreadable", kv("problem", x.Problem)})
	}
	slices.SortStableFunc(ev, func(a, b Event) int { return cmp.Or(cmp.Compare(a.Seq, b.Seq), a.Time.Compare(b.Time)) })
	return ev
}

func passFail(ok bool) string {
	if ok {
		return "passed"
	}
	return "failed"
}

// kv joins key/value pairs as "k=v; k=v", leaving out empty and zero values.
func kv(pairs ...any) string {
	var sb strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		v := fmt.Sprint(pairs[i+1])
		if v == "" || v == "0" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "%v=%s", pairs[i], v)
	}
	return sb.String()
}

// checksText renders failed checks as "name: message [objects]" joined by
// " | ".
func checksText(cs []audit.CheckResult) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		s := c.Name
		if c.Message != "" {
			s += ": " + c.Message
		}
		if len(c.Objects) > 0 {
			s += " [" + strings.Join(c.Objects, ", ") + "]"
		}
		if c.FailedObjects > 0 {
			s += fmt.Sprintf(" [%d objects named in the drill's status]", c.FailedObjects)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// drillVolumesText sums up a drill run's Level 1 volume check: "2 volumes, 1
// failed; 3 files, 1.0 MiB verified", or "" when none was checked. Volumes
// Level 1 did not read are said so with why, never counted as 0 files
// verified: "1 volume not verified (Level 1 skipped by the drill's checks)".
func drillVolumesText(vs []audit.VolumeCheck) string {
	if len(vs) == 0 {
		return ""
	}
	var files, bytes int64
	var n, failed int
	var why []string
	for _, v := range vs {
		if v.NotVerified != "" {
			if w := notVerifiedText(v.NotVerified); !slices.Contains(why, w) {
				why = append(why, w)
			}
			continue
		}
		n++
		files, bytes = files+v.Files, bytes+v.Bytes
		if !v.Passed {
			failed++
		}
	}
	var parts []string
	if n > 0 {
		s := plural.S(n, "volume")
		if failed > 0 {
			s += fmt.Sprintf(", %d failed", failed)
		}
		parts = append(parts, s+fmt.Sprintf("; %s, %s verified", plural.S(files, "file"), fmtBytes(bytes)))
	}
	if skipped := len(vs) - n; skipped > 0 {
		parts = append(parts, fmt.Sprintf("%s not verified (%s)", plural.S(skipped, "volume"), strings.Join(why, ", ")))
	}
	return strings.Join(parts, "; ")
}

// notVerifiedText says why Level 1 did not read a volume
// (audit.VolumeCheck.NotVerified).
func notVerifiedText(reason string) string {
	if reason == audit.VolumeNotVerifiedSkipped {
		return "Level 1 skipped by the drill's checks"
	}
	return "Level 1 not run: " + reason
}

// restoredVolumesText sums up a drill run's Level 2 volume check: "1
// volume, 1 failed (Differs); 5 files, 1.0 MiB restored, 4 files, 700.0 KiB
// match the snapshots", or "" when no volume was restored (Level 2 not
// asked for, or an entry written before it was recorded).
func restoredVolumesText(vs []audit.VolumeCheck) string {
	var n, failed int
	var files, bytes, matched, matchedBytes int64
	var reasons []string
	for _, v := range vs {
		r := v.Restored
		if r == nil {
			continue
		}
		n++
		files, bytes, matched, matchedBytes = files+r.Files, bytes+r.Bytes, matched+r.MatchedFiles, matchedBytes+r.MatchedBytes
		if !r.Passed {
			failed++
			if r.Reason != "" && !slices.Contains(reasons, r.Reason) {
				reasons = append(reasons, r.Reason)
			}
		}
	}
	if n == 0 {
		return ""
	}
	s := plural.S(n, "volume")
	if failed > 0 {
		s += fmt.Sprintf(", %d failed", failed)
		if len(reasons) > 0 {
			s += " (" + strings.Join(reasons, ", ") + ")"
		}
	}
	return s + fmt.Sprintf("; %s, %s restored, %s, %s match the snapshots",
		plural.S(files, "file"), fmtBytes(bytes), plural.S(matched, "file"), fmtBytes(matchedBytes))
}

// mappingText is a namespace mapping for people: "phi-app → phi-restored,
// billing → billing".
func mappingText(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" → "+m[k])
	}
	return strings.Join(parts, ", ")
}

func mapping(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+":"+m[k])
	}
	return strings.Join(parts, ",")
}
