package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/seal"
)

func newBackups(opts *options) *cobra.Command {
	var (
		target targetFlags
		pin    pinFlags
		format string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "backups --target-file TARGET.yaml [-o table|json]",
		Short: "List the sealed backups in the offsite bucket",
		Long: `backups lists the backups in the target's bucket, read from the bucket alone (no
cluster, no secret key). Sealed backups come first: those whose seal.json is
signed by a key the target trusts (spec.signingPublicKey,
spec.previousSigningKeys, --verify-key). Folders without a valid seal.json (a
seal in progress, an interrupted one, a damaged one, one signed by another
key) are listed apart: they are never restorable. Listing checks no digest;
'safekeep verify' does.

On a versioned bucket a plain DELETE does not remove a locked object: it hides
it behind a delete marker. --all also lists backups whose seal.json is hidden,
marked hidden, and recoverable when a version under the marker parses as their
seal; 'safekeep recover' brings them back, verify and restore read them as they
are (both check the seal's signature against a trusted key first).`,
		Example: `  safekeep backups --target-file target.yaml
  safekeep backups --target-file target.yaml -o json | jq '.[] | select(.restorable)'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := target.check(); err != nil {
				return err
			}
			if err := checkFormat(format); err != nil {
				return err
			}
			off, err := target.open(cmd.Context())
			if err != nil {
				return prefixed("backups", err)
			}
			kt, err := pin.trust(off)
			if err != nil {
				return prefixed("backups", err)
			}
			entries, err := kt.list(cmd.Context(), off)
			if err != nil {
				return prefixed("backups", err)
			}
			entries = withHidden(opts.streams, entries, all)
			if format == formatJSON {
				return writeJSON(opts.streams.Out, backupsJSON(entries))
			}
			return printBackups(opts.streams, off, entries)
		},
	}
	target.add(cmd)
	pin.add(cmd)
	cmd.Flags().StringVarP(&format, "output", "o", formatTable, "output format: table or json")
	cmd.Flags().BoolVar(&all, "all", false, "also list backups whose seal.json a delete marker hides (see 'safekeep recover')")
	return cmd
}

// backupJSON is one line of `backups -o json`; field names are stable.
type backupJSON struct {
	Schedule   string     `json:"schedule"`
	Backup     string     `json:"backup"`
	State      string     `json:"state"`
	Restorable bool       `json:"restorable"`
	SealedAt   *time.Time `json:"sealedAt,omitempty"`
	Cluster    string     `json:"cluster,omitempty"`
	Objects    int        `json:"objects"`
	Bytes      int64      `json:"bytes"`
	SealDigest string     `json:"sealDigest,omitempty"`
	Error      string     `json:"error,omitempty"`
	// Hidden entries (--all): when the delete marker was written, and the
	// version of seal.json under it that verifies with a trusted key
	// (empty: none does).
	HiddenAt    *time.Time `json:"hiddenAt,omitempty"`
	Recoverable bool       `json:"recoverable,omitempty"`
	RecoverFrom string     `json:"recoverFrom,omitempty"`
}

func backupsJSON(entries []seal.Entry) []backupJSON {
	out := make([]backupJSON, 0, len(entries))
	for _, e := range entries {
		b := backupJSON{
			Schedule: e.Schedule, Backup: e.Backup, State: string(e.State), Restorable: e.Restorable(),
			Objects: e.Objects, Bytes: e.Bytes,
		}
		if e.Seal != nil {
			t := e.SealedAt.UTC()
			b.SealedAt, b.Cluster, b.SealDigest = &t, e.Seal.Cluster, e.Seal.Digest()
		}
		if e.Err != nil {
			b.Error = oneLine(e.Err)
		}
		if h := e.Hidden; h != nil {
			t := h.MarkerAt.UTC()
			b.HiddenAt, b.Recoverable, b.RecoverFrom = &t, e.Recoverable(), h.VersionID
		}
		out = append(out, b)
	}
	return out
}

func printBackups(s Streams, off *offsite, entries []seal.Entry) error {
	var sealed, other []seal.Entry
	for _, e := range entries {
		if e.Restorable() {
			sealed = append(sealed, e)
		} else {
			other = append(other, e)
		}
	}
	if len(sealed) == 0 {
		// A note, not the result: stderr, best effort.
		_, _ = fmt.Fprintf(s.Err, "no sealed backups in %s\n", off.where())
	} else {
		w := newTable(s.Out)
		p := &printer{w: w}
		p.println("SCHEDULE\tBACKUP\tSEALED\tOBJECTS\tSIZE")
		for _, e := range sealed {
			p.printf("%s\t%s\t%s\t%d\t%s\n", e.Schedule, e.Backup, e.SealedAt.UTC().Format(time.RFC3339), e.Objects, bytesIEC(e.Bytes))
		}
		if err := p.flushTable(w); err != nil {
			return err
		}
	}
	if len(other) == 0 {
		return nil
	}
	out := &printer{w: s.Out}
	if len(sealed) > 0 {
		out.println()
	}
	out.println("Not restorable as they are (no valid current seal.json):")
	if out.err != nil {
		return out.err
	}
	w := newTable(s.Out)
	p := &printer{w: w}
	p.println("SCHEDULE\tBACKUP\tSTATE\tOBJECTS\tSIZE\tREASON")
	for _, e := range other {
		reason := "seal in progress or interrupted"
		switch {
		case e.Err != nil:
			reason = oneLine(e.Err)
		case e.Recoverable():
			reason = fmt.Sprintf("seal.json %s at %s; recoverable from version %s (safekeep recover)",
				e.Hidden.How(), e.Hidden.MarkerAt.UTC().Format(time.RFC3339), e.Hidden.VersionID)
		case e.Hidden != nil:
			reason = "seal.json hidden by a delete marker; no version under it verifies with a trusted key"
		}
		p.printf("%s\t%s\t%s\t%d\t%s\t%s\n", e.Schedule, e.Backup, e.State, e.Objects, bytesIEC(e.Bytes), reason)
	}
	return p.flushTable(w)
}

// withHidden drops hidden entries unless all, saying on stderr how many
// there are.
func withHidden(s Streams, entries []seal.Entry, all bool) []seal.Entry {
	if all {
		return entries
	}
	kept := entries[:0:0]
	hidden := 0
	for _, e := range entries {
		if e.State == seal.StateHidden {
			hidden++
			continue
		}
		kept = append(kept, e)
	}
	if hidden > 0 {
		// A note, not the result: stderr, best effort.
		_, _ = fmt.Fprintf(s.Err, "%d backup(s) have seal.json hidden by a delete marker: see 'safekeep backups --all' and 'safekeep recover'\n", hidden)
	}
	return kept
}
