package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/target"
)

// noAuditEntry starts the notice, on stderr, that a restore left no audit
// entry.
const noAuditEntry = "no audit entry written:"

// restoreRecord is what an incident restore's audit entry says.
type restoreRecord struct {
	schedule, backup string
	destination      string
	mapping          map[string]string
	staging          string
	passed           bool
	checks           []audit.CheckResult
	// volumes is what Velero restored into each volume, compared with the
	// snapshot (drill.Result.RestoredVolumes).
	volumes []drill.RestoredVolume
}

// recordRestore appends a KindRestore entry to the target's audit log when
// a restore key is given (--signing-key or $SAFEKEEP_SIGNING_KEY; with
// --target, else the target's audit key Secret, spec.auditKeySecretRef)
// that the target trusts for audit entries (spec.auditKeys, or one of its
// signing keys), and says on stderr when none was written. The target's
// seal signing key Secret is never read: a responder needs no key that
// signs seals. A failure to write it is reported on stderr and does not change
// the restore's outcome.
func recordRestore(ctx context.Context, opts *options, f *restoreFlags, off *offsite, rec restoreRecord) {
	usr, host := whoAmI()
	appendAudit(ctx, opts, f.signingKey, off, audit.Record{
		Actor:   usr + "@" + host,
		Kind:    audit.KindRestore,
		Subject: rec.schedule + "/" + rec.backup,
		Details: audit.RestoreDetails{
			Schedule: rec.schedule, Backup: rec.backup, User: usr, Host: host,
			Destination: rec.destination, NamespaceMapping: rec.mapping, StagingLocation: rec.staging,
			Passed: rec.passed, Checks: drill.ChecksForLog(rec.checks),
			// As a drill's entry: counts, reasons and name digests.
			Volumes: drill.AuditVolumes(drill.VolumesStatus(nil, rec.volumes)),
		},
	})
}

// errNoAuditKey: no key to sign a CLI's audit entry was given or found.
var errNoAuditKey = errors.New("no restore key")

// appendAudit appends rec to the target's audit log (writeAudit) and
// prints its sequence number; a missing key or a failed write is said on
// stderr and changes no outcome.
func appendAudit(ctx context.Context, opts *options, keyPath string, off *offsite, rec audit.Record) {
	warn := func(format string, args ...any) {
		_, _ = fmt.Fprintf(opts.streams.Err, "safekeep: "+format+"\n", args...) // nowhere else to report it
	}
	e, err := writeAudit(ctx, keyPath, off, rec)
	switch {
	case errors.Is(err, errNoAuditKey):
		warn("%s no restore key (give --signing-key FILE or set %s, or name an audit key Secret in the target's spec.auditKeySecretRef)", noAuditEntry, SigningKeyEnv)
		return
	case err != nil:
		warn("%s %s", noAuditEntry, oneLine(err))
		return
	}
	out := &printer{w: opts.streams.Out}
	out.printf("audit entry %d recorded (%s)\n", e.Seq, e.Hash)
	if out.err != nil {
		warn("audit entry %d recorded, but: %s", e.Seq, oneLine(out.err))
	}
}

// writeAudit appends rec to the target's audit log, signed with the key
// auditSigner finds (else, in cluster mode, the target's audit key
// Secret), which the target must trust for audit entries. It fails with
// errNoAuditKey when there is no key.
func writeAudit(ctx context.Context, keyPath string, off *offsite, rec audit.Record) (*audit.Entry, error) {
	signer, ok, err := auditSigner(keyPath)
	if err == nil && !ok {
		signer, ok, err = clusterAuditKey(ctx, off)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNoAuditKey
	}
	trusted, err := auditTrusted(off, signer.Public())
	if err != nil {
		return nil, err
	}
	lopts := target.AuditOptionsOf(off.target)
	lopts.TrustedKeys = trusted
	return audit.New(off.store, signer, lopts).Append(ctx, rec)
}

// auditTrusted returns the keys the target trusts for audit entries, after
// checking that pub is one of them: an entry signed by another key would
// stop every other writer (they never chain onto it).
func auditTrusted(off *offsite, pub crypto.VerifyKey) ([]crypto.VerifyKey, error) {
	named, err := target.AuditTrust(off.target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", off.describe(), err)
	}
	keys := target.Keys(named)
	for _, k := range keys {
		if k.KeyID() == pub.KeyID() {
			return keys, nil
		}
	}
	return nil, fmt.Errorf("the restore key (key id %s) is not one %s trusts for audit entries: add %s to its spec.auditKeys",
		pub.KeyID(), off.describe(), pub.String())
}

// auditSigner reads the restore key that signs a CLI's audit entry: the
// file at path, else $SAFEKEEP_SIGNING_KEY's. ok is false when there is none.
func auditSigner(path string) (crypto.SigningKey, bool, error) {
	if path == "" {
		path = os.Getenv(SigningKeyEnv)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return crypto.SigningKey{}, false, err
		}
		k, err := crypto.ParseSigningKey(data)
		if err != nil {
			return crypto.SigningKey{}, false, fmt.Errorf("%s: %w", path, err)
		}
		return k, true, nil
	}
	return crypto.SigningKey{}, false, nil
}

// clusterAuditKey reads the target's audit key Secret in cluster mode, when
// the target names one; never its seal signing key.
func clusterAuditKey(ctx context.Context, off *offsite) (crypto.SigningKey, bool, error) {
	if off.cluster == nil {
		return crypto.SigningKey{}, false, nil
	}
	k, ok, err := target.AuditKey(ctx, off.cluster, off.target)
	if err != nil {
		return crypto.SigningKey{}, false, fmt.Errorf("%s: %w", off.describe(), err)
	}
	return k, ok, nil
}

// whoAmI returns the user and host names for an audit entry.
func whoAmI() (string, string) {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return name, host
}

// absPath is path made absolute when possible.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
