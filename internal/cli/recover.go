package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/target"
)

// errNotRecovered: recover left something hidden or failed to act.
var errNotRecovered = errors.New("not everything hidden was recovered")

type recoverFlags struct {
	checkFlags
	all        bool
	dryRun     bool
	signingKey string
}

func newRecover(opts *options) *cobra.Command {
	f := &recoverFlags{}
	cmd := &cobra.Command{
		Use:   "recover --target-file TARGET.yaml (--backup SCHEDULE/NAME | --all) [--dry-run] [--verify-key FILE]",
		Short: "Bring back sealed objects that delete markers hide",
		Long: `On a versioned bucket (AWS's object-locked buckets all are) a plain DELETE of a
locked object is not refused: it adds a delete marker, and the object vanishes
from listings while its locked version stays. recover finds, in a sealed
backup, every object, manifest and seal.json whose current version is such a
marker, picks the newest version under it that the seal vouches for (an
object's ciphertext SHA-256 and size as sealed; seal.json only when its
signature verifies with a key the target trusts: spec.signingPublicKey,
spec.previousSigningKeys or --verify-key), and makes it current again: it deletes the markers and
any newer (forged) version over it by version ID, or, when that is refused,
copies the version back as the current object under the seal's lock.
A version whose bytes do not match is never used.

--all takes every sealed or hidden backup the trusted listing names (a
seal.json overwritten with any bytes included), and first the audit log's
hidden entries and claims (a claim only from a version signed by a key the
target trusts for audit entries).

--dry-run prints what would be done and changes nothing. Every recovery is an
audit entry of kind "recover" (see docs/audit.md), signed with --signing-key,
$SAFEKEEP_SIGNING_KEY or, with --target, the target's audit key Secret (a key
the target trusts for audit entries; never the seal signing key).
Exit status 1 when anything stays hidden or an action failed.`,
		Example: `  safekeep recover --target-file target.yaml --all --dry-run --verify-key signing.pub
  safekeep recover --target-file target.yaml --backup nightly/nightly-20250101 --verify-key signing.pub`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecover(cmd, opts, f) },
	}
	f.target.add(cmd)
	f.pin.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.backup, "backup", "", "sealed backup as SCHEDULE/NAME (see 'safekeep backups --all')")
	fl.BoolVar(&f.all, "all", false, "every backup in the bucket")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be done, change nothing")
	fl.StringVar(&f.signingKey, "signing-key", "", "ed25519 signing key `FILE` that signs the audit entry (default $"+SigningKeyEnv+"; a key the target trusts for audit entries)")
	return cmd
}

func runRecover(cmd *cobra.Command, opts *options, f *recoverFlags) error {
	if err := f.target.check(); err != nil {
		return err
	}
	if f.all == (f.backup != "") {
		return usagef("recover: give exactly one of --backup SCHEDULE/NAME and --all")
	}
	vopts, off, kt, err := f.open(cmd.Context())
	if err != nil {
		return prefixed("recover", err)
	}
	backups, err := f.backups(cmd.Context(), off, kt)
	if err != nil {
		return prefixed("recover", err)
	}
	out := &printer{w: opts.streams.Out}
	failed := false
	if f.all { // the log first: a hidden head would stop the entries below
		failed = recoverAudit(cmd.Context(), opts, f, off, out)
	}
	for _, b := range backups {
		recs, rep, err := seal.Recover(cmd.Context(), off.store, b[0], b[1], seal.RecoverOptions{VerifyOptions: vopts, DryRun: f.dryRun})
		var verr *seal.VerifyError
		if err != nil && !errors.As(err, &verr) {
			out.printf("%s/%s: FAIL %s\n", b[0], b[1], oneLine(err))
			failed = true
			continue
		}
		failed = printRecoveries(out, b[0], b[1], recs, f.dryRun) || failed
		if len(recs) > 0 && !f.dryRun {
			recordRecover(cmd.Context(), opts, f.signingKey, off, b[0], b[1], recs, err == nil && rep != nil && rep.OK())
		}
	}
	if err := out.err; err != nil {
		return err
	}
	if failed {
		return prefixed("recover", errNotRecovered)
	}
	return nil
}

// backups lists what to recover: --backup, or every sealed or hidden
// backup of the trusted listing (kt's): a seal.json overwritten with bytes
// that do not even parse is listed hidden there, recoverable from the
// genuine version under it, where an untrusted listing would call it
// invalid and leave it out.
func (f *recoverFlags) backups(ctx context.Context, off *offsite, kt keyTrust) ([][2]string, error) {
	if !f.all {
		s, b, err := parseBackupRef("backup", f.backup)
		return [][2]string{{s, b}}, err
	}
	entries, err := kt.list(ctx, off)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, e := range entries {
		if e.State == seal.StateSealed || e.State == seal.StateHidden {
			out = append(out, [2]string{e.Schedule, e.Backup})
		}
	}
	return out, nil
}

// printRecoveries prints a line per hidden object and reports whether
// anything stays hidden or failed.
func printRecoveries(out *printer, schedule, backup string, recs []seal.Recovery, dryRun bool) bool {
	if len(recs) == 0 {
		out.printf("%s/%s: nothing hidden\n", schedule, backup)
		return false
	}
	failed := false
	for _, r := range recs {
		at := r.MarkerAt.UTC().Format(time.RFC3339)
		switch {
		case r.Action == seal.ActionNone:
			failed = true
			out.printf("%s/%s: FAIL %s\n", schedule, backup, r.Hidden)
		case r.Err != nil:
			failed = true
			out.printf("%s/%s: FAIL %s hidden at %s: %s: %s\n", schedule, backup, r.Key, at, r.Action, oneLine(r.Err))
		case dryRun:
			out.printf("%s/%s: would bring back %s (%s at %s) from version %s: delete the marker(s) and newer versions by ID, or copy it back if that is refused\n",
				schedule, backup, r.Key, r.How(), at, r.VersionID)
		default:
			out.printf("%s/%s: recovered %s (%s at %s) from version %s: %s%s\n",
				schedule, backup, r.Key, r.How(), at, r.VersionID, r.Action, removedNote(r.Removed))
		}
	}
	return failed
}

// recoverAudit brings back hidden audit entries, prints a line each, and
// reports whether any stays hidden or failed.
func recoverAudit(ctx context.Context, opts *options, f *recoverFlags, off *offsite, out *printer) bool {
	var copyOpts storage.PutOptions
	if ol := off.target.Spec.ObjectLock; ol != nil {
		copyOpts.LockMode, copyOpts.RetainUntil = target.LockMode(ol.Mode), time.Now().AddDate(0, 0, int(ol.RetainDays))
	}
	// Claims come back only signed by a key the target trusts for audit
	// entries; without one (a bad spec) none does, and recover says so.
	var trusted []crypto.VerifyKey
	if named, err := target.AuditTrust(off.target); err == nil {
		trusted = target.Keys(named)
	}
	recs, err := audit.Recover(ctx, off.store, audit.RecoverOptions{DryRun: f.dryRun, CopyOpts: copyOpts, TrustedKeys: trusted})
	if err != nil {
		out.printf("audit log: FAIL %s\n", oneLine(err))
		return true
	}
	failed := false
	d := audit.RecoverDetails{}
	for _, r := range recs {
		at := r.MarkerAt.UTC().Format(time.RFC3339)
		action := string(seal.ActionRemoveMarkers)
		if r.Copied {
			action = string(seal.ActionCopyBack)
		}
		o := audit.RecoveredObject{Key: r.Key, MarkerVersion: r.MarkerID, MarkerTime: r.MarkerAt.UTC(), Version: r.VersionID,
			Action: action, Removed: r.Removed, Refused: r.Refused}
		switch {
		case r.VersionID == "":
			failed, o.Action = true, string(seal.ActionNone)
			out.printf("audit log: FAIL %s\n", r.Hidden)
		case r.Err != nil:
			failed, o.Error = true, oneLine(r.Err)
			out.printf("audit log: FAIL %s hidden at %s: %s\n", r.Key, at, oneLine(r.Err))
		case f.dryRun:
			out.printf("audit log: would bring back %s (hidden by a delete marker at %s) from version %s\n", r.Key, at, r.VersionID)
		default:
			out.printf("audit log: recovered %s (hidden by a delete marker at %s) from version %s: %s%s\n", r.Key, at, r.VersionID, action, removedNote(r.Removed))
		}
		d.Objects = append(d.Objects, o)
	}
	if len(recs) > 0 && !f.dryRun {
		usr, host := whoAmI()
		d.User, d.Host, d.Intact = usr, host, !failed
		appendAudit(ctx, opts, f.signingKey, off, audit.Record{Actor: usr + "@" + host, Kind: audit.KindRecover, Subject: "audit", Details: d})
	}
	return failed
}

func removedNote(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d version(s) deleted by ID)", len(ids))
}

// recordRecover appends a KindRecover entry (see appendAudit).
func recordRecover(ctx context.Context, opts *options, keyPath string, off *offsite, schedule, backup string, recs []seal.Recovery, intact bool) {
	usr, host := whoAmI()
	d := audit.RecoverDetails{Schedule: schedule, Backup: backup, User: usr, Host: host, Intact: intact}
	for _, r := range recs {
		o := audit.RecoveredObject{
			Key: r.Key, MarkerVersion: r.MarkerID, MarkerTime: r.MarkerAt.UTC(), Version: r.VersionID,
			Action: string(r.Action), Removed: r.Removed, Refused: r.Refused,
		}
		if r.Err != nil {
			o.Error = oneLine(r.Err)
		}
		d.Objects = append(d.Objects, o)
	}
	appendAudit(ctx, opts, keyPath, off, audit.Record{
		Actor: usr + "@" + host, Kind: audit.KindRecover, Subject: schedule + "/" + backup, Details: d,
	})
}
