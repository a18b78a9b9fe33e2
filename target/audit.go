package target

import (
	"errors"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
)

// AuditOptions are the settings of t's audit log (AuditOptionsOf).
func (t *Target) AuditOptions() audit.Options { return AuditOptionsOf(t.Object) }

// AuditOptionsOf are the settings of obj's audit log, for the controller
// and the CLI alike: entries locked for spec.audit.retainDays (default six
// years) in spec.objectLock's mode, or not locked when the target has no
// object lock.
func AuditOptionsOf(obj *v1alpha1.OffsiteTarget) audit.Options {
	o := audit.Options{RetainDays: audit.DefaultRetainDays, NoLock: obj.Spec.ObjectLock == nil}
	if a := obj.Spec.Audit; a != nil && a.RetainDays > 0 {
		o.RetainDays = int(a.RetainDays)
	}
	if ol := obj.Spec.ObjectLock; ol != nil {
		o.LockMode = LockMode(ol.Mode)
	}
	return o
}

// AuditSigningKey is the key that signs t's audit entries: the audit key
// when t names one, else the seal signing key. ok is false without either.
func (t *Target) AuditSigningKey() (k crypto.SigningKey, ok bool) {
	if t.HasAuditSigner {
		return t.AuditSigner, true
	}
	return t.Signer, t.HasSigner
}

// AuditLog returns a writer of the audit log in t's bucket, signing with
// AuditSigningKey and chaining only onto entries of keys t trusts for
// audit (AuditTrust). It fails when t has no such key.
func (t *Target) AuditLog() (*audit.Log, error) {
	signer, ok := t.AuditSigningKey()
	if !ok {
		return nil, errors.New("offsite target: no audit signing key resolved")
	}
	trusted, err := AuditTrust(t.Object)
	if err != nil {
		return nil, err
	}
	opts := t.AuditOptions()
	opts.TrustedKeys = Keys(trusted)
	return audit.New(t.Store, signer, opts), nil
}
