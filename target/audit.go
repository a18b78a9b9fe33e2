package target

import (
	"errors"

	"github.com/safekeep-dev/safekeep/audit"
)

// AuditOptions are the settings of t's audit log: entries locked for
// spec.audit.retainDays (default six years) in spec.objectLock's mode, or
// not locked when the target has no object lock.
func (t *Target) AuditOptions() audit.Options {
	o := audit.Options{RetainDays: audit.DefaultRetainDays, NoLock: t.Object.Spec.ObjectLock == nil}
	if a := t.Object.Spec.Audit; a != nil && a.RetainDays > 0 {
		o.RetainDays = int(a.RetainDays)
	}
	if ol := t.Object.Spec.ObjectLock; ol != nil {
		o.LockMode = LockMode(ol.Mode)
	}
	return o
}

// AuditLog returns a writer of the audit log in t's bucket, signing with
// t's key and chaining only onto entries of keys t trusts for audit
// (AuditTrust). It fails when t has no signing key.
func (t *Target) AuditLog() (*audit.Log, error) {
	if !t.HasSigner {
		return nil, errors.New("offsite target: no signing key resolved")
	}
	trusted, err := AuditTrust(t.Object)
	if err != nil {
		return nil, err
	}
	opts := t.AuditOptions()
	opts.TrustedKeys = Keys(trusted)
	return audit.New(t.Store, t.Signer, opts), nil
}
