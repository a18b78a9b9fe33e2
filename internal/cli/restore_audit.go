package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
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
	passed           bool
	checks           []audit.CheckResult
}

// recordRestore appends a KindRestore entry to the target's audit log when
// a signing key is available (--signing-key or $SAFEKEEP_SIGNING_KEY, else
// with --target the target's signing key Secret), and says on stderr when
// none was written. A failure to write it is reported on stderr and does
// not change the restore's outcome.
func recordRestore(ctx context.Context, opts *options, f *restoreFlags, off *offsite, rec restoreRecord) {
	warn := func(format string, args ...any) {
		_, _ = fmt.Fprintf(opts.streams.Err, "safekeep: "+format+"\n", args...) // nowhere else to report it
	}
	signer, ok, err := f.auditSigner(ctx, off)
	if err != nil {
		warn("%s %s", noAuditEntry, oneLine(err))
		return
	}
	if !ok {
		warn("%s no signing key (give --signing-key FILE or set %s)", noAuditEntry, SigningKeyEnv)
		return
	}
	lopts := audit.Options{NoLock: true}
	if ol := off.target.Spec.ObjectLock; ol != nil {
		lopts = audit.Options{LockMode: lockMode(ol.Mode)}
	}
	usr, host := whoAmI()
	e, err := audit.New(off.store, signer, lopts).Append(ctx, audit.Record{
		Actor:   usr + "@" + host,
		Kind:    audit.KindRestore,
		Subject: rec.schedule + "/" + rec.backup,
		Details: audit.RestoreDetails{
			Schedule: rec.schedule, Backup: rec.backup, User: usr, Host: host,
			Destination: rec.destination, NamespaceMapping: rec.mapping,
			Passed: rec.passed, Checks: rec.checks,
		},
	})
	if err != nil {
		warn("%s %s", noAuditEntry, oneLine(err))
		return
	}
	out := &printer{w: opts.streams.Out}
	out.printf("audit entry %d recorded (%s)\n", e.Seq, e.Hash)
	if out.err != nil {
		warn("audit entry %d recorded, but: %s", e.Seq, oneLine(out.err))
	}
}

// auditSigner finds the key that signs the audit entry.
func (f *restoreFlags) auditSigner(ctx context.Context, off *offsite) (crypto.SigningKey, bool, error) {
	path := f.signingKey
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
	if off.cluster == nil || off.target.Spec.SigningKeySecretRef.Name == "" {
		return crypto.SigningKey{}, false, nil
	}
	k, err := target.SigningKey(ctx, off.cluster, off.target)
	if err != nil {
		return crypto.SigningKey{}, false, fmt.Errorf("OffsiteTarget %s/%s: %w", off.target.Namespace, off.target.Name, err)
	}
	return k, true, nil
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
