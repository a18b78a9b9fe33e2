package target

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// Keys of the Secrets an OffsiteTarget references.
const (
	// KeyAccessKeyID, KeySecretAccessKey and KeySessionToken (optional) hold
	// static S3 credentials in the credentials Secret.
	KeyAccessKeyID     = "AWS_ACCESS_KEY_ID"
	KeySecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	KeySessionToken    = "AWS_SESSION_TOKEN"
	// KeyCloud holds credentials in AWS shared-credentials format (profile
	// default), as Velero's credentials Secret does. Used when
	// KeyAccessKeyID is absent.
	KeyCloud = "cloud"
	// KeySigningKey holds the PKCS#8 PEM ed25519 signing key.
	KeySigningKey = "signing.key"
	// KeyAuditKey holds the PKCS#8 PEM ed25519 key that signs audit
	// entries (spec.auditKeySecretRef).
	KeyAuditKey = "audit.key"
)

// cloudProfile is the profile read from a "cloud" key.
const cloudProfile = "default"

// Credentials reads the S3 credentials of t from the Secret its
// spec.s3.credentialsSecretRef names, in t's namespace. A target without a
// credentials Secret, a missing Secret or key, and a Secret the reader may
// not read are *Error with reason CredentialsMissing; other API failures are
// returned wrapped, as they are (transient, not a fault of the target).
//
// In a cluster a credentials Secret is required: the controller's own
// credentials are never lent to an OffsiteTarget.
func Credentials(ctx context.Context, r client.Reader, t *v1alpha1.OffsiteTarget) (storage.Credentials, error) {
	ref := t.Spec.S3.CredentialsSecretRef
	if ref == nil || ref.Name == "" {
		return storage.Credentials{}, newError(v1alpha1.ReasonCredentialsMissing, nil,
			"spec.s3.credentialsSecretRef is not set: name a Secret in namespace %s with keys %s and %s (or %q in AWS shared-credentials format)",
			t.Namespace, KeyAccessKeyID, KeySecretAccessKey, KeyCloud)
	}
	sec, err := getSecret(ctx, r, t.Namespace, ref.Name, v1alpha1.ReasonCredentialsMissing, "spec.s3.credentialsSecretRef")
	if err != nil {
		return storage.Credentials{}, err
	}
	return credentialsFromSecret(sec)
}

// credentialsFromSecret reads static keys, else the "cloud" key.
func credentialsFromSecret(sec *corev1.Secret) (storage.Credentials, error) {
	name := sec.Namespace + "/" + sec.Name
	if _, ok := sec.Data[KeyAccessKeyID]; ok {
		c := storage.Credentials{
			AccessKeyID:     strings.TrimSpace(string(sec.Data[KeyAccessKeyID])),
			SecretAccessKey: strings.TrimSpace(string(sec.Data[KeySecretAccessKey])),
			SessionToken:    strings.TrimSpace(string(sec.Data[KeySessionToken])),
		}
		switch {
		case c.AccessKeyID == "":
			return storage.Credentials{}, newError(v1alpha1.ReasonCredentialsMissing, nil,
				"Secret %s: key %s is empty", name, KeyAccessKeyID)
		case c.SecretAccessKey == "":
			return storage.Credentials{}, newError(v1alpha1.ReasonCredentialsMissing, nil,
				"Secret %s: key %s is missing or empty (it is needed with %s)", name, KeySecretAccessKey, KeyAccessKeyID)
		}
		return c, nil
	}
	cloud, ok := sec.Data[KeyCloud]
	if !ok {
		return storage.Credentials{}, newError(v1alpha1.ReasonCredentialsMissing, nil,
			"Secret %s has neither keys %s and %s nor %q (AWS shared-credentials format)",
			name, KeyAccessKeyID, KeySecretAccessKey, KeyCloud)
	}
	c, err := storage.ParseSharedCredentials(cloud, cloudProfile)
	if err != nil {
		return storage.Credentials{}, newError(v1alpha1.ReasonCredentialsMissing, nil, "Secret %s: key %q: %s", name, KeyCloud, err)
	}
	return c, nil
}

// SigningKey reads and parses the signing key of t from the Secret its
// spec.signingKeySecretRef names, key "signing.key". A missing Secret or key
// is an *Error with reason SigningKeyMissing, a key that does not parse one
// with SigningKeyInvalid; other API failures are returned wrapped.
func SigningKey(ctx context.Context, r client.Reader, t *v1alpha1.OffsiteTarget) (crypto.SigningKey, error) {
	return secretKey(ctx, r, t.Namespace, t.Spec.SigningKeySecretRef.Name, KeySigningKey, "spec.signingKeySecretRef")
}

// AuditKey reads and parses the key that signs t's audit entries from the
// Secret its spec.auditKeySecretRef names, key "audit.key"; ok is false
// when t names none. Errors are those of SigningKey.
func AuditKey(ctx context.Context, r client.Reader, t *v1alpha1.OffsiteTarget) (k crypto.SigningKey, ok bool, err error) {
	ref := t.Spec.AuditKeySecretRef
	if ref == nil {
		return crypto.SigningKey{}, false, nil
	}
	k, err = secretKey(ctx, r, t.Namespace, ref.Name, KeyAuditKey, "spec.auditKeySecretRef")
	return k, err == nil, err
}

// secretKey reads the ed25519 key under key in Secret ns/name, which field
// names.
func secretKey(ctx context.Context, r client.Reader, ns, name, key, field string) (crypto.SigningKey, error) {
	if name == "" {
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyMissing, nil,
			"%s.name is empty: name a Secret in namespace %s with key %q (create one with 'safekeep keygen --signing')",
			field, ns, key)
	}
	sec, err := getSecret(ctx, r, ns, name, v1alpha1.ReasonSigningKeyMissing, field)
	if err != nil {
		return crypto.SigningKey{}, err
	}
	data, ok := sec.Data[key]
	if !ok || len(bytes.TrimSpace(data)) == 0 {
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyMissing, nil,
			"Secret %s/%s has no key %q", sec.Namespace, sec.Name, key)
	}
	k, err := crypto.ParseSigningKey(data)
	if err != nil {
		// crypto's errors never quote key material.
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyInvalid, err,
			"Secret %s/%s key %q: %v (want a PKCS#8 PEM ed25519 key, as 'safekeep keygen --signing' writes)",
			sec.Namespace, sec.Name, key, err)
	}
	return k, nil
}

// getSecret reads Secret ns/name. NotFound and Forbidden become an *Error
// with reason; other failures are wrapped as they are.
func getSecret(ctx context.Context, r client.Reader, ns, name, reason, field string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sec)
	switch {
	case err == nil:
		return sec, nil
	case apierrors.IsNotFound(err):
		return nil, newError(reason, err, "Secret %s/%s (%s) not found", ns, name, field)
	case apierrors.IsForbidden(err):
		return nil, newError(reason, err, "Secret %s/%s (%s) may not be read by the controller: keep OffsiteTargets and their Secrets in the controller's namespace", ns, name, field)
	}
	return nil, fmt.Errorf("read Secret %s/%s: %w", ns, name, err)
}
