package cli

import (
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/report"
	"github.com/safekeep-dev/safekeep/target"
)

type auditReportFlags struct {
	target       targetFlags
	since, until string
	format       string
	output       string
	verifyKeys   []string
	fullSeals    bool
	anchor       string
}

// newAuditReport is `safekeep audit report`.
func newAuditReport(opts *options) *cobra.Command {
	f := &auditReportFlags{}
	cmd := &cobra.Command{
		Use:   "report --target-file TARGET.yaml | --target NAME [-n NAMESPACE] [--since DATE] [--until DATE] --format html|md|csv|json [-o FILE]",
		Short: "Write an evidence report for auditors from the audit log and the seals",
		Long: `report builds an evidence report from the offsite bucket alone, with no key:
per schedule the backups taken, sealed and failed, the last sealed backup,
the bytes offsite and the recipients in use; per restore drill the runs, pass
rate, last pass, RTO against the objective and the cause of each failure;
incident restores; retention deletions; target changes; whether the audit
chain and the seals verify; and a table linking this evidence to HIPAA
Security Rule citations (it supports, and does not prove, compliance).

Formats: html (one self-contained file with charts, printable, that loads
nothing), md (Markdown tables), csv (one row per audit entry, safe to open in
a spreadsheet) and json (stable field names, docs/report.md). Without
--format, the extension of -o decides.

DATE is YYYY-MM-DD (UTC) or RFC 3339. --since is inclusive; --until is
exclusive, and a bare date means the end of that day. -o writes a temporary
file and renames it over FILE when complete, so FILE is never left half
written; an existing FILE is replaced. Without -o the report goes to stdout.

The chain is checked against an anchor, a head kept outside the bucket:
--anchor SEQ:HASH (an earlier report's head), or with --target the head the
controller recorded in the OffsiteTarget's status.auditHead; a log that no
longer holds it is not verified. Objects under audit/ with delete markers or
more than one version (a versioned bucket) are named and fail the chain too.
The report records its head: keep it as the next report's anchor.

The report is written even when the chain or a seal does not verify (it says
so, and a line on stderr too): run 'safekeep audit verify' for a verdict in
the exit status.`,
		Example: `  safekeep audit report --target-file target.yaml --since 2025-01-01 --until 2025-12-31 -o evidence-2025.html
  safekeep audit report --target offsite -n safekeep-system --format csv > events.csv
  safekeep audit report --target-file target.yaml --format json --verify-key signing.pub`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditReport(cmd, opts, f) },
	}
	f.target.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "", "first `DATE` of the period, inclusive: YYYY-MM-DD (UTC) or RFC 3339 (default: the first entry)")
	fl.StringVar(&f.until, "until", "", "end `DATE` of the period: YYYY-MM-DD includes that day, RFC 3339 is exclusive (default: now)")
	fl.StringVar(&f.format, "format", "", "report format: html, md, csv or json (default: from the extension of -o)")
	fl.StringVarP(&f.output, "output", "o", "", "write the report to `FILE` (atomically; replaces FILE) instead of stdout; - is stdout")
	fl.StringArrayVar(&f.verifyKeys, "verify-key", nil, "pin the audit log's signing key: `FILE` or ed25519:<base64> (repeatable; default: the keys published in the bucket)")
	fl.StringVar(&f.anchor, "anchor", "", "`SEQ:HASH` of a head recorded outside the bucket (an earlier report's head): the chain verifies only if the log still holds it (default with --target: the OffsiteTarget's status.auditHead)")
	fl.BoolVar(&f.fullSeals, "full-seal-check", false, "also download every sealed object of the period and check its SHA-256 (default: signature, presence and size)")
	return cmd
}

func runAuditReport(cmd *cobra.Command, opts *options, f *auditReportFlags) error {
	if err := f.target.check(); err != nil {
		return err
	}
	format, err := f.reportFormat()
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	bo := report.BuildOptions{Options: report.Options{Now: now, FullSealCheck: f.fullSeals}}
	if bo.Since, err = parseDate("since", f.since, false); err != nil {
		return err
	}
	if bo.Until, err = parseDate("until", f.until, true); err != nil {
		return err
	}
	if !bo.Since.IsZero() && !bo.Until.IsZero() && !bo.Since.Before(bo.Until) {
		return usagef("--since %s is not before --until %s: the period is empty", f.since, f.until)
	}
	const what = "audit report"
	for _, p := range f.verifyKeys {
		k, err := loadVerifyKey(p)
		if err != nil {
			return prefixed(what, err)
		}
		bo.Keys = append(bo.Keys, *k)
	}
	off, err := f.target.open(cmd.Context())
	if err != nil {
		return prefixed(what, err)
	}
	bo.Target = off.where()
	named, err := target.Trust(off.target) // seals: the keys the target names
	if err != nil {
		return prefixed(what, err)
	}
	bo.SealKeys = target.Keys(named)
	bo.Anchor, bo.AnchorFrom = statusAnchor(off)
	if bo.NotCovered, bo.NotCoveredFrom, err = notCoveredNames(cmd.Context(), off); err != nil {
		return prefixed(what, err)
	}
	if f.anchor != "" {
		a, err := audit.ParseAnchor(f.anchor)
		if err != nil {
			return usagef("--anchor: %v", err)
		}
		bo.Anchor, bo.AnchorFrom = &a, "--anchor"
	}
	rep, err := report.Build(cmd.Context(), off.store, bo)
	if err != nil {
		return prefixed(what, err)
	}
	if f.output == "" || f.output == "-" {
		if err := report.Render(opts.streams.Out, rep, format); err != nil {
			return prefixed(what, err)
		}
	} else if err := writeFileAtomic(f.output, 0o644, func(w io.Writer) error { return report.Render(w, rep, format) }); err != nil {
		return prefixed(what, err)
	}
	warnIntegrity(&printer{w: opts.streams.Err}, rep, strings.TrimPrefix(f.output, "-"), format)
	return nil
}

// reportFormat is --format, or the format named by -o's extension.
func (f *auditReportFlags) reportFormat() (report.Format, error) {
	name := f.format
	flag := "--format"
	if name == "" {
		ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(f.output)), ".")
		if f.output == "" || f.output == "-" || ext == "" {
			return "", usagef("--format is required (html, md, csv or json) unless -o names a file with one of those extensions")
		}
		name, flag = ext, "-o "+f.output+": extension"
		if ext == "htm" {
			name = "html"
		}
	}
	format, err := report.ParseFormat(name)
	if err != nil {
		return "", usagef("%s %q: want html, md, csv or json", flag, name)
	}
	return format, nil
}

// parseDate reads a --since or --until DATE: YYYY-MM-DD (midnight UTC;
// for --until, end is set and the period runs to the end of that day) or
// RFC 3339. Empty is the zero time (unbounded).
func parseDate(flag, v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usagef("--%s %q: want a date, YYYY-MM-DD (UTC) or RFC 3339 such as 2025-01-31T08:00:00Z", flag, v)
}

// warnIntegrity prints one line on stderr when the report shows that the
// chain or the seals did not verify, and where the report went.
func warnIntegrity(w *printer, rep *report.Report, output string, format report.Format) {
	c, s := rep.Integrity.Chain, rep.Integrity.Seals
	if output != "" {
		w.printf("wrote %s (%s): %d entries in the period, audit chain %s, %d of %d logged seals verified\n",
			output, format, c.EntriesInPeriod, chainWord(c), s.Verified, s.Logged)
	}
	if !c.Verified {
		w.printf("warning: the audit log is NOT intact; the report's Integrity section names the first problem\n")
	}
	if n := len(s.Problems); n > 0 {
		w.printf("warning: %d seal problem(s) (missing, mismatched, failing, damaged, unreadable or unlogged); see the report's Integrity section\n", n)
	}
}

func chainWord(c report.Chain) string {
	if c.Verified {
		return "verified"
	}
	return "NOT verified"
}
