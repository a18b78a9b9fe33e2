package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/safekeep-dev/safekeep/internal/plural"
)

// WriteMarkdown writes r as Markdown: the same sections as the HTML
// format, as tables, with every value from the bucket escaped so it cannot
// add markup, links or HTML.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	m := &mdWriter{w: bw}
	m.header(r)
	m.schedules(r)
	m.drills(r)
	m.restores(r)
	m.deletions(r)
	m.targetChanges(r)
	m.failures(r)
	m.recoveries(r)
	m.integrity(r)
	m.hipaa(r)
	if m.err != nil {
		return m.err
	}
	return bw.Flush()
}

type mdWriter struct {
	w   *bufio.Writer
	err error
}

func (m *mdWriter) p(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

// table writes a header row and rows, escaping every cell.
func (m *mdWriter) table(head []string, rows [][]string, omitted int) {
	if len(rows) == 0 {
		m.p("None in the period.\n\n")
		return
	}
	if omitted > 0 {
		m.p("_The %d most recent rows are shown; %d older ones are in the CSV and JSON formats._\n\n", len(rows), omitted)
	}
	m.p("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat(" --- |", len(head)))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = mdEscape(c)
		}
		m.p("| %s |\n", strings.Join(cells, " | "))
	}
	m.p("\n")
}

// mdReplacer escapes Markdown and HTML syntax in a table cell; newlines
// become spaces so a value cannot end its row.
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "|", `\|`,
	"<", "&lt;", ">", "&gt;", "&", "&amp;", "#", `\#`, "!", `\!`, "~", `\~`,
	"\r\n", " ", "\n", " ", "\r", " ",
)

func mdEscape(s string) string { return mdReplacer.Replace(s) }

func (m *mdWriter) header(r *Report) {
	t := r.totals()
	m.p("# Safekeep evidence report\n\n")
	m.p("- Period: %s\n- Generated: %s\n", mdEscape(r.period()), fmtTime(r.GeneratedAt))
	if r.Target != "" {
		m.p("- Offsite target: %s\n", mdEscape(r.Target))
	}
	m.p("- Built from the audit log and the seals in the bucket; no key was used.\n\n")
	m.p("| Backups sealed | Backups failed | Drill runs | Drills passed | Drills failed | Incident restores | Retention deletions | Target changes | Failures |\n")
	m.p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	m.p("| %d | %d | %d | %d | %d | %d | %d | %d | %d |\n\n", t.Sealed, t.Failed, t.DrillRuns, t.DrillPassed, t.DrillFailed,
		t.Restores, t.Deletions, t.TargetChanges, t.Failures)
}

func (m *mdWriter) schedules(r *Report) {
	m.p("## Schedules\n\n")
	rows := make([][]string, 0, len(r.Schedules))
	for _, s := range r.Schedules {
		rows = append(rows, []string{s.Namespace, s.Name, itoa(s.BackupsTaken), itoa(s.BackupsSealed), itoa(s.BackupsFailed),
			itoa(s.FailedAttempts), s.lastSealedText(), itoa(s.BackupsNotCovered), fmtBytes(s.SealedBytes), itoa(s.OffsiteBackups), fmtBytes(s.OffsiteBytes),
			s.recipientList()})
	}
	m.table([]string{"Namespace", "Schedule", "Taken", "Sealed", "Failed", "Failed attempts", "Last sealed", "Volumes not covered", "Sealed bytes",
		"Offsite backups", "Offsite bytes", "Recipients (fingerprints)"}, rows, 0)
	for _, s := range r.Schedules {
		if len(s.Backups) == 0 {
			continue
		}
		m.p("### Backups sealed by %s\n\n", mdEscape(s.Name))
		shown, omitted := latest(s.Backups, MaxTableRows)
		rows := make([][]string, 0, len(shown))
		for _, b := range shown {
			rows = append(rows, []string{fmtTime(b.Time), b.Name, itoa(b.Objects), fmtBytes(b.CiphertextBytes), b.SealDigest, b.Offsite,
				volumesText(b.Volumes)})
		}
		m.table([]string{"Sealed", "Backup", "Objects", "Ciphertext", "Seal digest", "Offsite", "Volumes"}, rows, omitted)
	}
}

func (m *mdWriter) drills(r *Report) {
	m.p("## Restore drills\n\n")
	rows := make([][]string, 0, len(r.Drills))
	for _, d := range r.Drills {
		rows = append(rows, []string{d.Namespace, d.Name, itoa(d.Runs), itoa(d.Passed), itoa(d.Failed), fmtPercent(d.PassRate),
			fmtTimePtr(d.LastRun), fmtTimePtr(d.LastPass), fmtSeconds(d.MaxRTOSeconds), itoa(d.OverObjective)})
	}
	m.table([]string{"Namespace", "Drill", "Runs", "Passed", "Failed", "Pass rate", "Last run", "Last pass", "RTO objective",
		"Over objective"}, rows, 0)
	for _, d := range r.Drills {
		if len(d.RunList) == 0 {
			continue
		}
		m.p("### Runs of %s\n\n", mdEscape(d.Name))
		shown, omitted := latest(d.RunList, MaxTableRows)
		rows := make([][]string, 0, len(shown))
		for _, run := range shown {
			rows = append(rows, []string{fmtTime(run.Time), run.Run, subject(run.Schedule, run.Backup), passFail(run.Passed),
				fmtSeconds(run.RTOSeconds), fmtSeconds(run.MaxRTOSeconds), drillVolumesText(run.Volumes), restoredVolumesText(run.Volumes), checksText(run.FailedChecks)})
		}
		m.table([]string{"Finished", "Run", "Backup", "Result", "RTO", "Objective", "Volumes verified", "Volumes restored", "Failed checks"}, rows, omitted)
	}
}

func (m *mdWriter) restores(r *Report) {
	m.p("## Incident restores\n\n")
	shown, omitted := latest(r.Restores, MaxTableRows)
	rows := make([][]string, 0, len(shown))
	for _, x := range shown {
		rows = append(rows, []string{fmtTime(x.Time), x.User, x.Host, subject(x.Schedule, x.Backup), x.Destination,
			mappingText(x.NamespaceMapping), x.StagingLocation, passFail(x.Passed), restoredVolumesText(x.Volumes), checksText(x.FailedChecks)})
	}
	m.table([]string{"Time", "Who", "From host", "Backup", "Restored to", "Namespaces", "Staging location", "Result", "Volumes restored", "Failed checks"}, rows, omitted)
}

func (m *mdWriter) deletions(r *Report) {
	m.p("## Retention deletions\n\n")
	shown, omitted := latest(r.Deletions, MaxTableRows)
	rows := make([][]string, 0, len(shown))
	for _, x := range shown {
		rows = append(rows, []string{fmtTime(x.Time), subject(x.Schedule, x.Backup), x.Reason, x.Actor})
	}
	m.table([]string{"Time", "Backup", "Reason", "Actor"}, rows, omitted)
}

func (m *mdWriter) targetChanges(r *Report) {
	m.p("## Offsite target changes\n\n")
	shown, omitted := latest(r.TargetChanges, MaxTableRows)
	rows := make([][]string, 0, len(shown))
	for _, x := range shown {
		rows = append(rows, []string{fmtTime(x.Time), subject(x.Namespace, x.Target), x.Change, strings.Join(x.Fields, ", "),
			strings.Join(x.Recipients, ", "), x.SigningKey, lockText(x.LockMode, x.LockDays), x.ChangedBy, x.Actor})
	}
	m.table([]string{"Time", "Target", "Change", "Fields", "Recipients", "Signing key", "Object lock", "Changed by", "Recorded by"}, rows, omitted)
}

func (m *mdWriter) failures(r *Report) {
	m.p("## Failed attempts\n\n")
	shown, omitted := latest(r.Failures, MaxTableRows)
	rows := make([][]string, 0, len(shown))
	for _, x := range shown {
		rows = append(rows, []string{fmtTime(x.Time), x.Operation, subject(x.Schedule, x.Backup), x.Reason, x.Message})
	}
	m.table([]string{"Time", "Operation", "Backup", "Reason", "Message"}, rows, omitted)
}

func (m *mdWriter) recoveries(r *Report) {
	m.p("## Recovered from under delete markers\n\n")
	shown, omitted := latest(r.Recoveries, MaxTableRows)
	rows := make([][]string, 0, len(shown))
	for _, x := range shown {
		action := x.Action
		if x.Error != "" {
			action += ": " + x.Error
		}
		rows = append(rows, []string{fmtTime(x.Time), subject(x.Schedule, x.Backup), x.Key, fmtTime(x.MarkerTime), x.Version, action, x.Actor})
	}
	m.table([]string{"Time", "Backup", "Object", "Hidden at", "Version", "Action", "Actor"}, rows, omitted)
}

func (m *mdWriter) integrity(r *Report) {
	c, s := r.Integrity.Chain, r.Integrity.Seals
	m.p("## Integrity\n\n")
	m.p("- Audit chain: **%s**; %d entries, head #%d %s", verdict(c.Checked, c.Verified), c.Entries, c.HeadSeq, mdEscape(c.HeadHash))
	if c.Problem != "" {
		m.p("; first problem: %s", mdEscape(c.Problem))
	}
	if a := c.Anchor; a != nil {
		m.p("\n- Anchor (kept outside the bucket, from %s): entry #%d %s: **%s**", mdEscape(a.From), a.Seq, mdEscape(a.Hash), reachedWord(a.Reached))
		if a.Problem != "" {
			m.p("; %s", mdEscape(a.Problem))
		}
	}
	for _, t := range c.Tampered {
		m.p("\n- Tampered: %s", mdEscape(t.String()))
	}
	for _, b := range c.Burned {
		m.p("\n- Burned: %s", mdEscape(b.String()))
	}
	m.p("\n- Keep the head (#%d %s) outside the bucket: the next report checks the log against it (`--anchor %d:%s`)", c.HeadSeq, mdEscape(c.HeadHash), c.HeadSeq, mdEscape(c.HeadHash))
	m.p("\n- Entries in the period: %d", c.EntriesInPeriod)
	if n := len(r.Unreadable); n > 0 {
		m.p(" (%d unreadable by this version)", n)
	}
	m.p("\n- Seals (%s check, no key): **%s**; %d logged: %d verified, %d deleted by retention, %d missing, %d mismatched, %d failed, %d damaged, %d unreadable (transient); %d sealed in the period without an audit entry\n\n",
		mdEscape(s.Mode), verdict(s.Checked, s.Checked && len(s.Problems) == 0), s.Logged, s.Verified, s.Deleted, s.Missing, s.Mismatch, s.Failed, s.Damaged, s.Unreadable, s.Unlogged)
	if len(s.Problems) > 0 {
		shown, omitted := latest(s.Problems, MaxTableRows)
		rows := make([][]string, 0, len(shown))
		for _, p := range shown {
			rows = append(rows, []string{subject(p.Schedule, p.Backup), p.State, p.Problem})
		}
		m.table([]string{"Backup", "State", "Problem"}, rows, omitted)
	}
	if len(s.Hidden) > 0 {
		m.p("Objects hidden by delete markers or overwritten now (recover them with `safekeep recover`):\n\n")
		shown, omitted := latest(s.Hidden, MaxTableRows)
		rows := make([][]string, 0, len(shown))
		for _, h := range shown {
			rows = append(rows, []string{subject(h.Schedule, h.Backup), h.Key, hiddenBy(h.Kind), fmtTime(h.MarkerAt), recoverable(h)})
		}
		m.table([]string{"Backup", "Object", "Hidden by", "At", "Recoverable"}, rows, omitted)
	}
}

// hiddenBy names a HiddenObject's Kind for a table.
func hiddenBy(kind string) string {
	if kind == "overwritten" { // seal.KindOverwritten
		return "overwritten with other bytes"
	}
	return "delete marker"
}

// recoverable says whether and from which version a hidden object can come back.
func recoverable(h HiddenObject) string {
	switch {
	case !h.Recoverable:
		return "no: no version under it matches"
	case h.Version != "":
		return "yes, from version " + h.Version
	default:
		return "yes"
	}
}

func (m *mdWriter) hipaa(r *Report) {
	m.p("## HIPAA mapping\n\n%s\n\n", mdEscape(Disclaimer))
	rows := make([][]string, 0, len(r.HIPAA))
	for _, h := range r.HIPAA {
		rows = append(rows, []string{h.Citation, h.Requirement, h.Evidence, strings.Join(h.Sections, ", "), h.Status})
	}
	m.table([]string{"Citation", "Requirement", "Evidence in this report", "Sections", "Status"}, rows, 0)
}

func itoa(n int) string { return fmt.Sprint(n) }

func lockText(mode string, days int) string {
	if mode == "" {
		return ""
	}
	return mode + ", " + plural.S(days, "day")
}

// reachedWord is the verdict on an anchor.
func reachedWord(ok bool) string {
	if ok {
		return "reached"
	}
	return "NOT reached"
}
