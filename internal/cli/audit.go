package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/internal/plural"
)

// newAudit is the parent of the audit-log verbs.
func newAudit(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check and report on the tamper-evident audit log in the offsite bucket",
		Long: `The audit log is a hash-chained, signed, object-locked record of every seal,
retention deletion, drill, restore, target change and failure, kept in the
offsite bucket under audit/ (see docs/audit.md). No key is needed to read or
verify it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAuditVerify(opts), newAuditReport(opts))
	return cmd
}

type auditVerifyFlags struct {
	target      targetFlags
	verifyKeys  []string
	trustBucket bool
	format      string
	deep        bool
	anchor      string
}

func newAuditVerify(opts *options) *cobra.Command {
	f := &auditVerifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify --target-file TARGET.yaml | --target NAME [-n NAMESPACE] [--verify-key FILE]... [--deep] [-o json]",
		Short: "Check that the audit log is intact",
		Long: `verify walks the whole audit log in sequence order and checks every entry:
well formed, named for its sequence number and hash, content matching its
hash, signature valid, linked to the entry before, no sequence number missing
or held twice. It names the first offending entry: a changed, removed,
reordered, replayed or forked entry, a bad signature or an unknown key.

Entries are read from the checkpoint segments (1000 entries per object), each
compared with its entry object by name, size and MD5 ETag; --deep reads every
entry object as well.

Entries must be signed by a key the target trusts for audit entries
(spec.signingPublicKey, spec.previousSigningKeys, spec.auditKeys), or by the
keys --verify-key pins; the verdict names each signing key and why it is
trusted. Keys published in the bucket (keys/) are trusted only with
--trust-bucket-key, and only for a target that names no key: anyone who can
write to the bucket can publish one.

A log whose newest entries were hidden (deleted, or behind delete markers)
still verifies, shorter. --anchor SEQ:HASH checks it against a head kept
outside the bucket (a report's "head", an earlier run's): the log must still
hold that entry with that hash. With --target and no --anchor, the head the
controller recorded in the OffsiteTarget's status.auditHead is the anchor.
On a versioned bucket, every key under audit/ that holds a delete marker or
more than one version is listed ("tampered"): the log writes each object
once and deletes none, so either is someone else's write, even when the
chain still verifies (hidden entries are read from their versions).

Exit status 0 means intact and untouched; 1 names the first problem.`,
		Example: `  safekeep audit verify --target-file target.yaml
  safekeep audit verify --target offsite -n safekeep-system --verify-key signing.pub -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditVerify(cmd, opts, f) },
	}
	f.target.add(cmd)
	cmd.Flags().StringArrayVar(&f.verifyKeys, "verify-key", nil, "pin a signing key: `FILE` or ed25519:<base64> (repeatable; default: the keys the target trusts for audit entries)")
	cmd.Flags().BoolVar(&f.trustBucket, "trust-bucket-key", false, "when the target names no key and --verify-key is not given, trust the keys published in the bucket (anyone who can write to the bucket could have put them there)")
	cmd.Flags().StringVarP(&f.format, "output", "o", "text", "output format: text or json (the report)")
	cmd.Flags().BoolVar(&f.deep, "deep", false, "read every entry object, not only the checkpoint segments")
	cmd.Flags().StringVar(&f.anchor, "anchor", "", "`SEQ:HASH` of a head recorded outside the bucket (a report's head): the log must still hold it")
	return cmd
}

func runAuditVerify(cmd *cobra.Command, opts *options, f *auditVerifyFlags) error {
	if err := f.target.check(); err != nil {
		return err
	}
	if f.format != "text" && f.format != formatJSON {
		return usagef("-o %q: want text or json", f.format)
	}
	const what = "audit verify"
	var anchor *audit.Anchor
	if f.anchor != "" {
		a, err := audit.ParseAnchor(f.anchor)
		if err != nil {
			return usagef("--anchor: %v", err)
		}
		anchor = &a
	}
	off, err := f.target.open(cmd.Context())
	if err != nil {
		return prefixed(what, err)
	}
	kt, err := auditKeyTrust(off, f.verifyKeys, f.trustBucket)
	if err != nil {
		return prefixed(what, err)
	}
	vo := audit.VerifyOptions{Deep: f.deep, Keys: kt.keys}
	anchorFrom := "--anchor"
	if anchor == nil {
		anchor, anchorFrom = statusAnchor(off)
	}
	var rep *audit.Report
	if anchor != nil {
		rep, err = audit.VerifyAnchored(cmd.Context(), off.store, vo, *anchor)
	} else {
		rep, err = audit.Verify(cmd.Context(), off.store, vo)
	}
	var verr *audit.VerifyError
	if err != nil && !errors.As(err, &verr) && !errors.Is(err, audit.ErrBehindAnchor) {
		return prefixed(what, err) // the log could not be read: no verdict
	}
	out := &printer{w: opts.streams.Out}
	if f.format == formatJSON {
		if jerr := writeJSON(opts.streams.Out, rep); jerr != nil {
			return prefixed(what, errors.Join(err, jerr))
		}
	} else {
		printAuditReport(out, off.where(), rep, kt, anchorLine(anchor, anchorFrom, err))
	}
	if err == nil {
		err = rep.TamperedErr()
	}
	if err != nil {
		return prefixed(what, err)
	}
	return out.err
}

// anchorLine is the verdict on the anchor: "" without one, "ok ..." or
// "FAIL ...", saying where it came from.
func anchorLine(a *audit.Anchor, from string, err error) string {
	switch {
	case a == nil:
		return ""
	case errors.Is(err, audit.ErrBehindAnchor):
		return "FAIL  " + oneLine(err) + " (anchor from " + from + ")"
	}
	return fmt.Sprintf("ok    entry %d still has the hash recorded outside the bucket (%s)", a.Seq, from)
}

// printAuditReport prints the verdict and, on failure, the first problems.
func printAuditReport(w *printer, where string, rep *audit.Report, kt keyTrust, anchor string) {
	w.printf("audit log in %s\n", where)
	w.printf("%-9s %d (pending %d)\n", "entries", rep.Entries, rep.Pending)
	if rep.Entries > 0 {
		w.printf("%-9s %d %s\n", "head", rep.HeadSeq, rep.HeadHash)
		w.printf("%-9s %s to %s\n", "time", rep.First.UTC().Format("2006-01-02T15:04:05Z"), rep.Last.UTC().Format("2006-01-02T15:04:05Z"))
		for _, id := range rep.KeyIDs {
			w.printf("%-9s %s\n", "signed by", kt.explain(id))
		}
		w.printf("%-9s %d of %d entries from checkpoint segments\n", "read", rep.FromSegments, rep.Entries)
	}
	for _, h := range rep.Hidden {
		w.printf("%-9s %s\n", "hidden", h)
	}
	for _, t := range rep.Tampered {
		w.printf("%-9s %s\n", "tampered", t)
	}
	for _, b := range rep.Burned {
		w.printf("%-9s %s\n", "burned", b)
	}
	for _, warn := range rep.Warnings {
		w.printf("warning: %s\n", warn)
	}
	if anchor != "" {
		w.printf("%-9s %s\n", "anchor", anchor)
	}
	if strings.HasPrefix(anchor, "FAIL") {
		w.printf("NOT INTACT: the log does not reach its anchor\n")
		return
	}
	if rep.Intact() {
		w.printf("intact: %s, chain and signatures verified\n", plural.Count(rep.Entries, "entry", "entries"))
		if n := len(rep.Burned); n > 0 {
			w.printf("BURNED: %s out of the chain, each covered by a burn record signed by a trusted key (see the burned lines; docs/audit.md)\n", plural.Count(n, "seq", "seqs"))
		}
		if err := rep.TamperedErr(); err != nil {
			w.printf("TAMPERED: %s: someone wrote to the log outside Safekeep ('safekeep recover --all' brings hidden entries back)\n", oneLine(err))
		}
		return
	}
	w.printf("NOT INTACT: %d problem(s)\n", rep.ProblemCount)
	for i, p := range rep.Problems {
		if i == maxProblemsShown {
			w.printf("  ... and %d more\n", rep.ProblemCount-i)
			break
		}
		w.printf("  %s\n", oneLine(errors.New(p.String())))
	}
}
