package seal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// maxKeyFile bounds reads of published public keys.
const maxKeyFile = 64 << 10

// publishSigningKey makes pub verifiable from the bucket: it is written to
// keys/signing/<key id>.pub and, when the bucket has no signing key yet, to
// keys/signing.pub. Both are conditional creates: a key already published is
// never replaced, so after a rotation keys/signing.pub keeps naming the first
// key and the archive holds every key that ever sealed here (see
// docs/layout.md). An archive entry that exists with another key is an
// error: its name is that key's id, so the bucket has been tampered with.
func publishSigningKey(ctx context.Context, offsite storage.Store, pub crypto.VerifyKey) error {
	text := []byte(pub.String() + "\n")
	archive := SigningKeyArchiveKey(pub.KeyID())
	if err := putSmall(ctx, offsite, archive, text, storage.PutOptions{IfAbsent: true}); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("publish signing key: %w", err)
		}
		got, err := readVerifyKey(ctx, offsite, archive)
		if err != nil {
			return err
		}
		if got.KeyID() != pub.KeyID() {
			return fmt.Errorf("%w: %s holds key %s", ErrSigningKey, archive, got.KeyID())
		}
	}
	err := putSmall(ctx, offsite, SigningKeyKey, text, storage.PutOptions{IfAbsent: true})
	if err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("publish signing key: %w", err)
	}
	return nil
}

// SigningKeyFor finds the published public key with keyID in the bucket:
// keys/signing.pub when it is that key, else keys/signing/<id>.pub. The key
// read must hash to keyID. Errors wrap ErrSigningKey.
//
// A key from the bucket proves integrity against accidents, not against
// someone who can write to the bucket: pin the key (VerifyOptions.VerifyKey)
// for that.
func SigningKeyFor(ctx context.Context, offsite storage.Store, keyID string) (crypto.VerifyKey, error) {
	k, err := readVerifyKey(ctx, offsite, SigningKeyKey)
	if err == nil && k.KeyID() == keyID {
		return k, nil
	}
	if err != nil && !errors.Is(err, ErrSigningKey) { // missing or unreadable: try the archive
		return crypto.VerifyKey{}, err
	}
	k, err = readVerifyKey(ctx, offsite, SigningKeyArchiveKey(keyID))
	if err != nil {
		return crypto.VerifyKey{}, err
	}
	if k.KeyID() != keyID {
		return crypto.VerifyKey{}, fmt.Errorf("%w: %s holds key %s", ErrSigningKey, SigningKeyArchiveKey(keyID), k.KeyID())
	}
	return k, nil
}

func readVerifyKey(ctx context.Context, offsite storage.Store, key string) (crypto.VerifyKey, error) {
	data, err := getSmall(ctx, offsite, key, maxKeyFile)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return crypto.VerifyKey{}, fmt.Errorf("%w: %s: %w", ErrSigningKey, key, err)
		}
		return crypto.VerifyKey{}, err
	}
	k, err := crypto.ParseVerifyKey(data)
	if err != nil {
		return crypto.VerifyKey{}, fmt.Errorf("%w: %s: %w", ErrSigningKey, key, err)
	}
	return k, nil
}

// verifyKeyOf returns the public half of a signing key after checking that
// the key signs (the zero SigningKey does not).
func verifyKeyOf(k crypto.SigningKey) (pub crypto.VerifyKey, err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("no signing key")
		}
	}()
	pub = k.Public()
	probe := []byte("safekeep signing key check")
	if pub.Verify(probe, k.Sign(probe)) != nil {
		return crypto.VerifyKey{}, errors.New("no usable signing key")
	}
	return pub, nil
}

// putSmall uploads an in-memory object with its size known.
func putSmall(ctx context.Context, st storage.Store, key string, data []byte, opts storage.PutOptions) error {
	opts.Size = int64(len(data))
	_, err := st.Put(ctx, key, bytes.NewReader(data), opts)
	if errors.Is(err, storage.ErrStoredWrong) {
		return storage.RemoveStoredWrong(ctx, st, key, err)
	}
	return err
}

// getSmall reads a whole object of at most limit bytes.
func getSmall(ctx context.Context, st storage.Store, key string, limit int64) ([]byte, error) {
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(len(data)) > limit {
		return nil, permanent(fmt.Errorf("%s is larger than %d bytes", key, limit))
	}
	return data, nil
}

// PublishSigningKey publishes pub in offsite as a seal does (see
// publishSigningKey), for other signed records in the bucket (the audit
// log) to verify from it with SigningKeyFor.
func PublishSigningKey(ctx context.Context, offsite storage.Store, pub crypto.VerifyKey) error {
	return publishSigningKey(ctx, offsite, pub)
}
