package audit

import (
	"errors"
	"fmt"

	"github.com/safekeep-dev/safekeep/crypto"
)

// ErrUntrustedClaim: a claim (audit/seq/<n>) is not signed by a key the
// writer trusts. A writer never adopts it, writes it as an entry or chains
// onto it: anyone who can write to the bucket could have put it there.
// Appending stops with this error until the claim is dealt with (see
// docs/threat-model.md).
var ErrUntrustedClaim = errors.New("audit claim is not signed by a trusted key")

// trustedKeys are the keys whose claims a Log adopts: its own and
// Options.TrustedKeys.
func (l *Log) trustedKeys() []crypto.VerifyKey {
	return append([]crypto.VerifyKey{l.pub}, l.opts.TrustedKeys...)
}

// parseTrusted parses a claim and checks that its content matches its hash
// and that its signature verifies with one of keys; errors wrap
// ErrUntrustedClaim (and the parse error, when there is one).
func parseTrusted(data []byte, keys []crypto.VerifyKey) (*Entry, error) {
	p, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUntrustedClaim, err)
	}
	if p.hash != p.entry.Hash {
		return nil, fmt.Errorf("%w: %w: content hashes to %s", ErrUntrustedClaim, ErrChanged, abbreviate(p.hash))
	}
	id := p.entry.Signature.KeyID
	for _, k := range keys {
		if k.KeyID() != id {
			continue
		}
		if err := k.Verify(p.signed, p.entry.Signature.Value); err != nil {
			return nil, fmt.Errorf("%w: %w: under key %s", ErrUntrustedClaim, ErrBadSignature, abbreviate(id))
		}
		return p.entry, nil
	}
	return nil, fmt.Errorf("%w: signed by key %s", ErrUntrustedClaim, abbreviate(id))
}
