package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// keyring finds the verify key of a key id: among the pinned keys, or
// (none pinned) published in the bucket, as seals' keys are. Safe for
// concurrent use; each key id is looked up once.
type keyring struct {
	store  storage.Store
	pinned bool
	mu     sync.Mutex
	keys   map[string]*crypto.VerifyKey // nil value: unknown
	errs   map[string]error
}

func newKeyring(store storage.Store, pinned []crypto.VerifyKey) *keyring {
	k := &keyring{store: store, pinned: len(pinned) > 0, keys: map[string]*crypto.VerifyKey{}, errs: map[string]error{}}
	for i := range pinned {
		k.keys[pinned[i].KeyID()] = &pinned[i]
	}
	return k
}

// lookup returns the key with id, or an error wrapping ErrUnknownKey, or
// a storage error (the bucket could not be read).
func (k *keyring) lookup(ctx context.Context, id string) (*crypto.VerifyKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key := k.keys[id]; key != nil {
		return key, nil
	}
	if err := k.errs[id]; err != nil {
		return nil, err
	}
	if k.pinned {
		return nil, fmt.Errorf("%w: %s is not a pinned key", ErrUnknownKey, abbreviate(id))
	}
	key, err := seal.SigningKeyFor(ctx, k.store, id)
	switch {
	case errors.Is(err, seal.ErrSigningKey):
		err = fmt.Errorf("%w: %s is not published in the bucket", ErrUnknownKey, abbreviate(id))
		k.errs[id] = err
		return nil, err
	case err != nil:
		return nil, err // not remembered: a read failure
	}
	k.keys[id] = &key
	return &key, nil
}

// check verifies the signature of a parsed item (a scan hook).
func (k *keyring) check(ctx context.Context, it *item) {
	e := it.p.entry
	key, err := k.lookup(ctx, e.Signature.KeyID)
	if err != nil {
		if !errors.Is(err, ErrUnknownKey) {
			it.err = err // a read failure, reported as such
			return
		}
		it.sigErr = err
		return
	}
	if key.Verify(it.p.signed, e.Signature.Value) != nil {
		it.sigErr = fmt.Errorf("%w: does not verify under key %s", ErrBadSignature, e.Signature.KeyID)
	}
}
