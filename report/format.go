package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// MaxTableRows bounds the rows of one table in the HTML and Markdown
// formats: the most recent are shown, with a note saying how many older
// ones the CSV and JSON formats hold. It keeps a report of a large log
// readable and quick to open.
const MaxTableRows = 1000

// latest returns the last n elements of s and how many were left out.
func latest[T any](s []T, n int) ([]T, int) {
	if len(s) <= n {
		return s, 0
	}
	return s[len(s)-n:], len(s) - n
}

// fmtTime formats a time for tables: UTC, to the second.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtTimePtr(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return fmtTime(*t)
}

// fmtBytes formats a byte count in IEC units.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// fmtSeconds formats a duration given in seconds: to the millisecond under
// a minute (drill RTOs of small namespaces are seconds long), else to the
// second.
func fmtSeconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	if d < time.Minute {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func fmtPercent(f float64) string { return fmt.Sprintf("%.0f%%", f*100) }

// period describes the report's period.
func (r *Report) period() string {
	since := "the first entry"
	if r.Since != nil {
		since = fmtTime(*r.Since)
	}
	return since + " to " + fmtTime(r.Until)
}

// failedRuns lists a drill's failed runs.
func (d Drill) failedRuns() []DrillRun {
	var out []DrillRun
	for _, r := range d.RunList {
		if !r.Passed {
			out = append(out, r)
		}
	}
	return out
}

// recipientList joins a schedule's recipient fingerprints.
func (s Schedule) recipientList() string {
	fps := make([]string, 0, len(s.Recipients))
	for _, u := range s.Recipients {
		fps = append(fps, u.Fingerprint)
	}
	return strings.Join(fps, ", ")
}

// lastSealedText names the last sealed backup and when.
func (s Schedule) lastSealedText() string {
	if s.LastSealed == nil {
		return "none in period"
	}
	return s.LastSealed.Name + " (" + fmtTime(s.LastSealed.Time) + ")"
}

// totals are the report's headline numbers.
type totals struct {
	Sealed, Failed, DrillRuns, DrillPassed, DrillFailed, Restores, Deletions, TargetChanges, Failures int
}

func (r *Report) totals() totals {
	var t totals
	for _, s := range r.Schedules {
		t.Sealed += s.BackupsSealed
		t.Failed += s.BackupsFailed
	}
	for _, d := range r.Drills {
		t.DrillRuns += d.Runs
		t.DrillPassed += d.Passed
		t.DrillFailed += d.Failed
	}
	t.Restores, t.Deletions, t.TargetChanges, t.Failures = len(r.Restores), len(r.Deletions), len(r.TargetChanges), len(r.Failures)
	return t
}

// volumesText says what a backup's seal did with its volumes: "2 sealed",
// "2 sealed, 1 not covered (CSISnapshotNotMoved 1)", or "not recorded".
func volumesText(v *VolumeCoverage) string {
	if v == nil {
		return "not recorded"
	}
	out := fmt.Sprintf("%d sealed", v.Sealed)
	if v.NotCovered == 0 {
		return out
	}
	var reasons []string
	for _, r := range slices.Sorted(maps.Keys(v.Reasons)) {
		reasons = append(reasons, fmt.Sprintf("%s %d", r, v.Reasons[r]))
	}
	out = fmt.Sprintf("%s, %d not covered (%s)", out, v.NotCovered, strings.Join(reasons, ", "))
	if len(v.Named) == 0 {
		return out
	}
	names := make([]string, len(v.Named))
	for i, n := range v.Named {
		names[i] = n.String()
	}
	more := ""
	if len(v.Named) < v.NotCovered {
		more = fmt.Sprintf("; %d more", v.NotCovered-len(v.Named))
	}
	return fmt.Sprintf("%s: %s%s (from %s)", out, strings.Join(names, "; "), more, v.NamedFrom)
}
