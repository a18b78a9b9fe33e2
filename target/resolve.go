package target

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Target is a resolved OffsiteTarget: everything a seal needs. It holds
// credentials and a signing key; its fields print redacted, but never log
// Config field by field.
type Target struct {
	// Object is the OffsiteTarget it was resolved from.
	Object *v1alpha1.OffsiteTarget
	// Config is the offsite store's configuration, credentials included,
	// rooted at <spec.s3.prefix>/safekeep/v1.
	Config storage.Config
	// Store is Config's store with storage.DefaultRetryPolicy.
	Store storage.Store
	// Recipients are the parsed spec.recipients, in order, without
	// duplicates.
	Recipients []crypto.Recipient
	// Signer signs seals (and audit entries without AuditSigner).
	// HasSigner is false when no key was resolved (file mode without a key
	// file).
	Signer    crypto.SigningKey
	HasSigner bool
	// AuditSigner signs the audit entries when HasAuditSigner: the key in
	// spec.auditKeySecretRef.
	AuditSigner    crypto.SigningKey
	HasAuditSigner bool
	// Lock is spec.objectLock as sealing takes it, or nil.
	Lock *seal.Lock

	credsFrom string // where the credentials came from, for messages
}

// Resolve reads what t references in the cluster through r and returns the
// resolved target. Checks run in this order and the first failure is
// returned: the spec (Validate: recipients, CA bundle, object lock, endpoint
// and bucket), the credentials Secret (Credentials), the signing key Secret
// (SigningKey), the audit key Secret when named (AuditKey: its public half
// in spec.auditKeys, and not the signing key). Failures of the target are *Error; a failing API read is
// returned wrapped as it is. Resolve does not contact the S3 endpoint: see
// Check.
func Resolve(ctx context.Context, r client.Reader, t *v1alpha1.OffsiteTarget) (*Target, error) {
	rcpts, err := Validate(t)
	if err != nil {
		return nil, err
	}
	creds, err := Credentials(ctx, r, t)
	if err != nil {
		return nil, err
	}
	signer, err := SigningKey(ctx, r, t)
	if err != nil {
		return nil, err
	}
	if err := checkSigningPublicKey(t, signer); err != nil {
		return nil, err
	}
	auditor, hasAuditor, err := AuditKey(ctx, r, t)
	if err != nil {
		return nil, err
	}
	if hasAuditor {
		if err := checkAuditPublicKey(t, auditor, signer); err != nil {
			return nil, err
		}
	}
	res, err := build(t, rcpts, creds)
	if err != nil {
		return nil, err
	}
	res.Signer, res.HasSigner = signer, true
	res.AuditSigner, res.HasAuditSigner = auditor, hasAuditor
	res.credsFrom = "Secret " + t.Namespace + "/" + t.Spec.S3.CredentialsSecretRef.Name
	return res, nil
}

// Config returns the offsite store configuration of t, credentials read
// from its Secret: what listing, verifying and restoring need (no signing
// key). Errors are those of Validate and Credentials.
func Config(ctx context.Context, r client.Reader, t *v1alpha1.OffsiteTarget) (storage.Config, error) {
	if _, err := Validate(t); err != nil {
		return storage.Config{}, err
	}
	creds, err := Credentials(ctx, r, t)
	if err != nil {
		return storage.Config{}, err
	}
	return location.OffsiteConfig(t, creds), nil
}

// Validate checks t's spec without reading anything and returns the parsed
// recipients. Failures are *Error of KindSpec: RecipientInvalid (the
// message names the entry, spec.recipients[i]), CABundleInvalid, InvalidSpec
// (object lock settings, previous signing keys, endpoint or bucket).
func Validate(t *v1alpha1.OffsiteTarget) ([]crypto.Recipient, error) {
	rcpts, err := Recipients(t)
	if err != nil {
		return nil, err
	}
	s3 := t.Spec.S3
	if ca := s3.CAPEM(); len(ca) > 0 && !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, newError(v1alpha1.ReasonCABundleInvalid, nil,
			"spec.s3.caBundle holds no PEM certificate: give the PEM (-----BEGIN CERTIFICATE-----) of the CA that signs %s", s3.Endpoint)
	}
	if ol := t.Spec.ObjectLock; ol != nil {
		if ol.Mode != v1alpha1.ObjectLockGovernance && ol.Mode != v1alpha1.ObjectLockCompliance {
			return nil, newError(v1alpha1.ReasonInvalidSpec, nil, "spec.objectLock.mode is %q, want Governance or Compliance", ol.Mode)
		}
		if ol.RetainDays < 1 {
			return nil, newError(v1alpha1.ReasonInvalidSpec, nil, "spec.objectLock.retainDays must be at least 1, got %d", ol.RetainDays)
		}
	}
	if _, err := AuditTrust(t); err != nil { // spec.signingPublicKey, .previousSigningKeys, .auditKeys
		return nil, err
	}
	if err := location.ValidateOffsiteTarget(t); err != nil { // endpoint and bucket names
		return nil, newError(v1alpha1.ReasonInvalidSpec, err, "%v", err)
	}
	if _, err := storage.New(location.OffsiteConfig(t, storage.Credentials{})); err != nil {
		// storage names the field: "storage config: endpoint ...: ...".
		msg := strings.TrimPrefix(err.Error(), "storage config: ")
		return nil, newError(v1alpha1.ReasonInvalidSpec, err, "spec.s3.%s", msg)
	}
	return rcpts, nil
}

// Recipients parses t's spec.recipients. A bad entry is an *Error with
// reason RecipientInvalid naming it as spec.recipients[i] (a public key,
// safe to show; a pasted secret key is never echoed).
func Recipients(t *v1alpha1.OffsiteTarget) ([]crypto.Recipient, error) {
	list := t.Spec.Recipients
	if len(list) == 0 {
		return nil, newError(v1alpha1.ReasonRecipientInvalid, crypto.ErrNoRecipients,
			"spec.recipients is empty: give at least one age public key (age1...)")
	}
	for i, s := range list {
		if _, err := crypto.ParseRecipient(s); err != nil {
			return nil, newError(v1alpha1.ReasonRecipientInvalid, err, "spec.recipients[%d]: %v", i, err)
		}
	}
	rcpts, err := crypto.ParseRecipients(list)
	if err != nil { // each parses: the list mixes kinds
		return nil, newError(v1alpha1.ReasonRecipientInvalid, err, "spec.recipients: %v", err)
	}
	return rcpts, nil
}

// Fingerprints returns the fingerprints of rcpts, in order.
func Fingerprints(rcpts []crypto.Recipient) []string {
	out := make([]string, len(rcpts))
	for i, r := range rcpts {
		out[i] = r.Fingerprint()
	}
	return out
}

// build assembles a Target from checked parts.
func build(t *v1alpha1.OffsiteTarget, rcpts []crypto.Recipient, creds storage.Credentials) (*Target, error) {
	cfg := location.OffsiteConfig(t, creds)
	st, err := storage.New(cfg)
	if err != nil { // Validate accepted the same settings
		return nil, newError(v1alpha1.ReasonInvalidSpec, err, "spec.s3: %s", strings.TrimPrefix(err.Error(), "storage config: "))
	}
	res := &Target{
		Object:     t,
		Config:     cfg,
		Store:      storage.WithRetry(st, storage.DefaultRetryPolicy()),
		Recipients: rcpts,
	}
	if ol := t.Spec.ObjectLock; ol != nil {
		res.Lock = &seal.Lock{Mode: LockMode(ol.Mode), RetainDays: int(ol.RetainDays)}
	}
	return res, nil
}

// LockMode maps the API's retention mode to the storage one.
func LockMode(m v1alpha1.ObjectLockMode) storage.LockMode {
	if m == v1alpha1.ObjectLockCompliance {
		return storage.LockCompliance
	}
	return storage.LockGovernance
}

// Sealer returns a Sealer writing to t's store, encrypting to its
// recipients, signing with its key and locking as it asks, that reads
// Velero's backups from source. It fails when t has no signing key.
func (t *Target) Sealer(source storage.Store) (*seal.Sealer, error) {
	if !t.HasSigner {
		return nil, errors.New("offsite target: no signing key resolved")
	}
	prev, err := t.PreviousKeys()
	if err != nil {
		return nil, err
	}
	return &seal.Sealer{
		Source:      source,
		Offsite:     t.Store,
		Recipients:  t.Recipients,
		Signer:      t.Signer,
		TrustedKeys: prev,
		Place:       t.Place(),
		Lock:        t.Lock,
	}, nil
}

// String names the target for messages: namespace/name and its store.
func (t *Target) String() string {
	return fmt.Sprintf("OffsiteTarget %s/%s (%s)", t.Object.Namespace, t.Object.Name, t.Store)
}
