package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// readResult is what reading one offsite object found.
type readResult struct {
	cipher Blob
	// plain is set when the object decrypted.
	plain Blob
	// decryptErr is set when decryption failed (wrong identity, corrupt).
	decryptErr error
}

// readObject reads offsite key to the end and hashes its ciphertext. With
// identities it also decrypts it, writing the plaintext to w and hashing it.
// The error is a failure to read the bucket or to write w, not a finding
// about the object; findings are in the result.
//
// size is the ciphertext size the seal records. A checksum failure
// (storage.ErrCorrupt) after a body of another size is a transfer that went
// wrong (a wrong Content-Length, a cut connection), not damage at rest:
// it is returned as a short read, never as ErrCorrupt.
func readObject(ctx context.Context, offsite storage.Store, key string, size int64, ids []crypto.Identity, w io.Writer, progress func(int64)) (readResult, error) {
	res, n, err := readObjectOnce(ctx, offsite, key, ids, w, progress)
	if errors.Is(err, storage.ErrCorrupt) && n != size {
		// %v: the checksum failure must not match ErrCorrupt any more.
		err = fmt.Errorf("read %s: %w: the body had %d bytes, the object %d (%v)", key, io.ErrUnexpectedEOF, n, size, err) //nolint:errorlint // see above

	}
	return res, err
}

// readObjectOnce is readObject; it also returns how many bytes of
// ciphertext arrived.
func readObjectOnce(ctx context.Context, offsite storage.Store, key string, ids []crypto.Identity, w io.Writer, progress func(int64)) (readResult, int64, error) {
	rc, _, err := offsite.Get(ctx, key)
	if err != nil {
		return readResult{}, 0, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	src := &recordingReader{r: rc}
	cipher := newHashingReader(src)
	in := &progressReader{r: cipher, progress: progress}
	var res readResult
	if len(ids) > 0 {
		plain, err := decryptTo(w, in, ids)
		switch {
		case errors.As(err, new(writeError)):
			return res, cipher.n, fmt.Errorf("write %s: %w", key, err)
		case err != nil && src.err != nil:
			return res, cipher.n, fmt.Errorf("read %s: %w", key, src.err)
		case err != nil:
			res.decryptErr = err
		default:
			res.plain = plain
		}
	}
	if _, err := pump(io.Discard, in, nil); err != nil { // hash what decryption left
		return res, cipher.n, fmt.Errorf("read %s: %w", key, err)
	}
	res.cipher = cipher.blob()
	return res, res.cipher.Size, nil
}

// decryptTo decrypts the age file in r to w and returns the plaintext's
// size and SHA-256.
func decryptTo(w io.Writer, r io.Reader, ids []crypto.Identity) (Blob, error) {
	pr, err := crypto.Decrypt(r, ids)
	if err != nil {
		return Blob{}, err
	}
	plain := newHashingReader(pr)
	if _, err := pump(w, plain, nil); err != nil {
		return Blob{}, err
	}
	return plain.blob(), nil
}

// checkCipher compares what was read with the seal's entry.
func checkCipher(want Object, got Blob) (ProblemKind, error) {
	switch {
	case got.Size != want.Size:
		return ProblemSize, fmt.Errorf("%w: ciphertext is %d bytes, sealed %d", ErrObjectMismatch, got.Size, want.Size)
	case got.SHA256 != want.SHA256:
		return ProblemDigest, fmt.Errorf("%w: ciphertext SHA-256 %s, sealed %s", ErrObjectMismatch, got.SHA256, want.SHA256)
	}
	return "", nil
}

// checkPlain compares a decrypted object with the manifest's entry.
func checkPlain(want Object, got Blob) error {
	switch {
	case got.Size != want.Size:
		return fmt.Errorf("%w: plaintext is %d bytes, manifest says %d", ErrPlaintextMismatch, got.Size, want.Size)
	case got.SHA256 != want.SHA256:
		return fmt.Errorf("%w: plaintext SHA-256 differs from the manifest's", ErrPlaintextMismatch)
	}
	return nil
}

// recordingReader remembers the error its reader returned, so a failure of
// the bucket can be told from a failure to decrypt.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// progressReader reports each read's byte count.
type progressReader struct {
	r        io.Reader
	progress func(int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 && p.progress != nil {
		p.progress(int64(n))
	}
	return n, err
}
