package target

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/storage"
)

// FileOptions tune ResolveFile. The zero value resolves no signing key.
type FileOptions struct {
	// SigningKeyFile is the path of a PKCS#8 PEM ed25519 signing key; empty
	// means none (listing, verifying and restoring need none).
	SigningKeyFile string
}

// ResolveFile resolves the OffsiteTarget in the YAML file at path with no
// cluster: the object is loaded strictly (location.LoadOffsiteTarget, whose
// errors name the file and the field), credentials come from the AWS
// environment (storage.CredentialsFromEnv: AWS_ACCESS_KEY_ID... or the
// shared-credentials file), and the signing key, when asked for, from a
// file. spec.s3.credentialsSecretRef and spec.signingKeySecretRef are not
// used. Failures after loading are *Error as in Resolve.
func ResolveFile(ctx context.Context, path string, opts FileOptions) (*Target, error) {
	t, err := location.LoadOffsiteTarget(path)
	if err != nil {
		return nil, err
	}
	rcpts, err := Validate(t)
	if err != nil {
		return nil, err
	}
	creds, err := storage.CredentialsFromEnv(ctx, "")
	if err != nil {
		return nil, newError(v1alpha1.ReasonCredentialsMissing, err, "offsite credentials: %v", err)
	}
	res, err := build(t, rcpts, creds)
	if err != nil {
		return nil, err
	}
	res.credsFrom = "the AWS environment"
	if opts.SigningKeyFile != "" {
		k, err := signingKeyFile(opts.SigningKeyFile)
		if err != nil {
			return nil, err
		}
		res.Signer, res.HasSigner = k, true
	}
	return res, nil
}

// signingKeyFile reads a signing key file: a missing file is
// SigningKeyMissing, a bad one SigningKeyInvalid.
func signingKeyFile(path string) (crypto.SigningKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyMissing, err, "signing key file %s does not exist", path)
	case err != nil:
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyMissing, err, "signing key: %v", err)
	}
	k, err := crypto.ParseSigningKey(data)
	if err != nil {
		return crypto.SigningKey{}, newError(v1alpha1.ReasonSigningKeyInvalid, err, "%s: %v", path, err)
	}
	return k, nil
}
