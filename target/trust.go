package target

import (
	"fmt"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
)

// PreviousSigningKeys parses t's spec.previousSigningKeys. A bad entry is an
// *Error with reason InvalidSpec naming it as spec.previousSigningKeys[i].
func PreviousSigningKeys(t *v1alpha1.OffsiteTarget) ([]crypto.VerifyKey, error) {
	keys := make([]crypto.VerifyKey, 0, len(t.Spec.PreviousSigningKeys))
	for i, s := range t.Spec.PreviousSigningKeys {
		k, err := crypto.ParseVerifyKey([]byte(s))
		if err != nil {
			return nil, newError(v1alpha1.ReasonInvalidSpec, err, "spec.previousSigningKeys[%d]: %v", i, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// TrustedKeys are the keys a seal of this target may be signed by: the
// current signing key (when resolved) and spec.previousSigningKeys. Pin
// them (seal.VerifyOptions.TrustedKeys) so that keys published in the bucket
// are not taken on trust.
func (t *Target) TrustedKeys() ([]crypto.VerifyKey, error) {
	prev, err := PreviousSigningKeys(t.Object)
	if err != nil {
		return nil, err
	}
	if !t.HasSigner {
		if len(prev) == 0 {
			return nil, fmt.Errorf("%s: no signing key to trust", t)
		}
		return prev, nil
	}
	return append([]crypto.VerifyKey{t.Signer.Public()}, prev...), nil
}
