package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// Opened is a sealed backup ready to be read: its seal verified, every
// object present with its sealed size, and its manifest decrypted and
// checked against the seal.
type Opened struct {
	Seal     *Seal
	Manifest *Manifest
	// KeyID names the key the seal's signature verified with.
	KeyID string
	// Hidden lists the objects a delete marker hid and where each was read
	// from instead (see Hidden); empty on an untouched backup.
	Hidden  []Hidden
	offsite storage.Store
	ids     []crypto.Identity
}

// Open verifies a sealed backup without downloading its objects (the seal's
// signature, each object present with its sealed size; objects the seal does
// not list are ignored) and
// decrypts its manifest with opts.Identities, which are required. Errors
// are those of Verify.
func Open(ctx context.Context, offsite storage.Store, schedule, backup string, opts VerifyOptions) (*Opened, error) {
	if len(opts.Identities) == 0 {
		return nil, fmt.Errorf("open %s/%s: %w", schedule, backup, crypto.ErrNoIdentities)
	}
	rep := &Report{Schedule: schedule, Backup: backup}
	sl, keyID, err := loadSeal(ctx, offsite, schedule, backup, opts)
	if err != nil {
		return nil, err
	}
	offsite, rep.Hidden, err = recoverBackup(ctx, offsite, sl)
	if err != nil {
		return nil, err
	}
	_, manifestOK, err := checkListing(ctx, offsite, sl, rep)
	if err != nil {
		return nil, err
	}
	if err := rep.err(); err != nil {
		return nil, err
	}
	var manifest *Manifest
	if manifestOK {
		if manifest, err = checkManifest(ctx, offsite, sl, opts.Identities, rep, nil); err != nil {
			return nil, err
		}
	}
	if err := rep.err(); err != nil {
		return nil, err
	}
	return &Opened{Seal: sl, Manifest: manifest, KeyID: keyID, Hidden: rep.Hidden, offsite: offsite, ids: opts.Identities}, nil
}

// ReadObject decrypts the sealed object name and writes its plaintext to w
// as it streams, then checks the ciphertext against the seal and the
// plaintext against the manifest. It reads once: on an error for which
// IsRetryable holds, a caller that can start w over may call it again. On
// any error what was written to w must be discarded: the error wraps
// ErrObjectMismatch (with storage.ErrCorrupt when the stored bytes failed
// their checksum), ErrPlaintextMismatch,
// ErrObjectMissing, crypto.ErrCorrupt or crypto.ErrWrongIdentity for
// findings, or is a failure to read the bucket or write w. progress, when
// set, is called with ciphertext byte counts.
func (o *Opened) ReadObject(ctx context.Context, name string, w io.Writer, progress func(int64)) (Blob, error) {
	want, ok := o.Manifest.Object(name)
	if !ok {
		return Blob{}, fmt.Errorf("%w: %s", ErrObjectMissing, name)
	}
	sealed := o.Seal.Objects[0]
	for _, s := range o.Seal.Objects {
		if s.Name == name {
			sealed = s
		}
	}
	key := ObjectKey(o.Seal.Schedule, o.Seal.Backup, name)
	res, err := readObject(ctx, o.offsite, key, sealed.Size, o.ids, w, progress)
	if errors.Is(err, storage.ErrNotFound) {
		return Blob{}, fmt.Errorf("%w: %s: %w", ErrObjectMissing, key, err)
	}
	if errors.Is(err, storage.ErrCorrupt) {
		// Still IsRetryable: a reader that can start w over tries again,
		// and only then calls the object damaged.
		return Blob{}, damaged(key, err)
	}
	if err != nil {
		return Blob{}, err
	}
	if _, err := checkCipher(sealed, res.cipher); err != nil {
		return Blob{}, fmt.Errorf("%s: %w", name, err)
	}
	if res.decryptErr != nil {
		return Blob{}, fmt.Errorf("decrypt %s: %w", name, decryptProblem(res.decryptErr))
	}
	if err := checkPlain(want, res.plain); err != nil {
		return Blob{}, fmt.Errorf("%s: %w", name, err)
	}
	return res.plain, nil
}
