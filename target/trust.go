package target

import (
	"fmt"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
)

// PreviousSigningKeys parses t's spec.previousSigningKeys. A bad entry is an
// *Error with reason InvalidSpec naming it as spec.previousSigningKeys[i].
func PreviousSigningKeys(t *v1alpha1.OffsiteTarget) ([]crypto.VerifyKey, error) {
	return parseKeys("spec.previousSigningKeys", t.Spec.PreviousSigningKeys)
}

// AuditKeys parses t's spec.auditKeys. A bad entry is an *Error with
// reason InvalidSpec naming it as spec.auditKeys[i].
func AuditKeys(t *v1alpha1.OffsiteTarget) ([]crypto.VerifyKey, error) {
	return parseKeys("spec.auditKeys", t.Spec.AuditKeys)
}

// parseKeys parses the public keys of a list field.
func parseKeys(field string, list []string) ([]crypto.VerifyKey, error) {
	keys := make([]crypto.VerifyKey, 0, len(list))
	for i, s := range list {
		k, err := crypto.ParseVerifyKey([]byte(s))
		if err != nil {
			return nil, newError(v1alpha1.ReasonInvalidSpec, err, "%s[%d]: %v", field, i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// AuditTrust lists the keys t trusts to sign audit entries, from its spec
// alone: its seal keys (Trust: the signing key signs the controller's
// entries) and spec.auditKeys.
func AuditTrust(t *v1alpha1.OffsiteTarget) ([]TrustedKey, error) {
	out, err := Trust(t)
	if err != nil {
		return nil, err
	}
	keys, err := AuditKeys(t)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		out = append(out, TrustedKey{Key: k, Why: fmt.Sprintf("spec.auditKeys[%d]", i)})
	}
	return out, nil
}

// SigningPublicKey parses t's spec.signingPublicKey; ok is false when it is
// not set. A bad value is an *Error with reason InvalidSpec.
func SigningPublicKey(t *v1alpha1.OffsiteTarget) (k crypto.VerifyKey, ok bool, err error) {
	if t.Spec.SigningPublicKey == "" {
		return crypto.VerifyKey{}, false, nil
	}
	k, err = crypto.ParseVerifyKey([]byte(t.Spec.SigningPublicKey))
	if err != nil {
		return crypto.VerifyKey{}, false, newError(v1alpha1.ReasonInvalidSpec, err, "spec.signingPublicKey: %v", err)
	}
	return k, true, nil
}

// TrustedKey is a public key a target trusts to sign its seals, and why.
type TrustedKey struct {
	Key crypto.VerifyKey
	// Why names the field that trusts it, for messages: "spec.signingPublicKey",
	// "spec.previousSigningKeys[1]", "the signing key Secret".
	Why string
}

// Trust lists the keys t trusts to sign seals, from its spec alone (no
// Secret is read): spec.signingPublicKey, then spec.previousSigningKeys.
// Nothing read from the bucket is ever among them.
func Trust(t *v1alpha1.OffsiteTarget) ([]TrustedKey, error) {
	var out []TrustedKey
	cur, ok, err := SigningPublicKey(t)
	if err != nil {
		return nil, err
	}
	if ok {
		out = append(out, TrustedKey{Key: cur, Why: "spec.signingPublicKey"})
	}
	prev, err := PreviousSigningKeys(t)
	if err != nil {
		return nil, err
	}
	for i, k := range prev {
		out = append(out, TrustedKey{Key: k, Why: fmt.Sprintf("spec.previousSigningKeys[%d]", i)})
	}
	return out, nil
}

// Keys returns the keys of ts.
func Keys(ts []TrustedKey) []crypto.VerifyKey {
	out := make([]crypto.VerifyKey, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

// TrustedKeys are the keys a seal of this target may be signed by: the
// current signing key (when resolved, else spec.signingPublicKey) and
// spec.previousSigningKeys. Pin them (seal.VerifyOptions.TrustedKeys,
// seal.ListTrusted, seal.Sealer.TrustedKeys) so that keys published in the
// bucket are never taken on trust.
func (t *Target) TrustedKeys() ([]crypto.VerifyKey, error) {
	spec, err := Trust(t.Object)
	if err != nil {
		return nil, err
	}
	keys := Keys(spec)
	if t.HasSigner {
		keys = append([]crypto.VerifyKey{t.Signer.Public()}, keys...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no signing key to trust: set spec.signingPublicKey", t)
	}
	return keys, nil
}

// Place is where t's seals belong: its bucket and prefix, as seals record
// them.
func (t *Target) Place() seal.Place {
	return seal.PlaceOf(t.Object.Spec.S3.Bucket, t.Object.Spec.S3.Prefix)
}

// PreviousKeys are the keys besides the current signer's that t trusts:
// what a Sealer takes as TrustedKeys.
func (t *Target) PreviousKeys() ([]crypto.VerifyKey, error) {
	prev, err := PreviousSigningKeys(t.Object)
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// checkSigningPublicKey refuses a signing key Secret whose public half is
// not spec.signingPublicKey, when that is set: the CLI trusts the spec.
func checkSigningPublicKey(t *v1alpha1.OffsiteTarget, signer crypto.SigningKey) error {
	want, ok, err := SigningPublicKey(t)
	if err != nil || !ok {
		return err
	}
	if got := signer.Public(); got.KeyID() != want.KeyID() {
		return newError(v1alpha1.ReasonSigningKeyInvalid, nil,
			"the key in Secret %s/%s (key id %s) is not spec.signingPublicKey (key id %s): set spec.signingPublicKey to %s, or restore the Secret",
			t.Namespace, t.Spec.SigningKeySecretRef.Name, got.KeyID(), want.KeyID(), got.String())
	}
	return nil
}

// checkAuditPublicKey refuses an audit key that spec.auditKeys does not
// list (auditors and the CLI trust the spec, so nobody could verify its
// entries) or that is the seal signing key (the point is to separate them).
func checkAuditPublicKey(t *v1alpha1.OffsiteTarget, auditor, signer crypto.SigningKey) error {
	got := auditor.Public()
	name := t.Namespace + "/" + t.Spec.AuditKeySecretRef.Name
	if got.KeyID() == signer.Public().KeyID() {
		return newError(v1alpha1.ReasonSigningKeyInvalid, nil,
			"the key in Secret %s (spec.auditKeySecretRef) is the seal signing key: give the audit log a key of its own ('safekeep keygen --signing')", name)
	}
	listed, err := AuditKeys(t)
	if err != nil {
		return err
	}
	for _, k := range listed {
		if k.KeyID() == got.KeyID() {
			return nil
		}
	}
	return newError(v1alpha1.ReasonSigningKeyInvalid, nil,
		"the key in Secret %s (spec.auditKeySecretRef, key id %s) is not in spec.auditKeys: add %s to spec.auditKeys",
		name, got.KeyID(), got.String())
}
