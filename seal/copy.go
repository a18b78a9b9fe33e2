package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/sha256x2"
	"github.com/safekeep-dev/safekeep/storage"
)

// objectResult is what sealing one object learned.
type objectResult struct {
	name          string
	plain, cipher Blob
}

// sealObject puts one source object offsite, retrying transient failures
// of the whole copy. An object already offsite (from an interrupted run, an
// earlier attempt or a concurrent sealer) is reused, not uploaded again.
func (r *run) sealObject(ctx context.Context, obj sourceObject, exists bool) (objectResult, error) {
	key := ObjectKey(r.schedule, r.backup, obj.Name)
	var res objectResult
	err := retry(ctx, func() error {
		var moved int64
		progress := func(n int64) { moved += n; r.meter.add(obj.Name, n) }
		defer func() { r.meter.add(obj.Name, -moved) }() // a failed attempt gives its bytes back
		var err error
		if !exists {
			res, err = r.uploadObject(ctx, obj, key, progress)
			if !errors.Is(err, storage.ErrExists) {
				if err == nil {
					moved = 0
				}
				return err
			}
			exists = true
			r.meter.add(obj.Name, -moved)
			moved = 0
		}
		res, err = r.reuseObject(ctx, obj, key, progress)
		if err == nil {
			moved = 0
		}
		return err
	})
	if err != nil {
		return objectResult{}, fmt.Errorf("seal object %s: %w", obj.Name, err)
	}
	r.meter.done(obj.Name)
	return res, nil
}

// uploadObject streams one object: source GET, SHA-256 of the plaintext,
// age encryption, SHA-256 of the ciphertext, offsite PUT.
func (r *run) uploadObject(ctx context.Context, obj sourceObject, key string, progress func(int64)) (objectResult, error) {
	body, info, err := r.src.Get(ctx, obj.Key)
	if err != nil {
		return objectResult{}, err
	}
	defer func() { _ = body.Close() }() // read-only: a close error loses nothing
	if info.Size != obj.Size {
		return objectResult{}, permanent(fmt.Errorf("%w: %s changed size while sealing (%d, then %d bytes)", ErrSealConflict, obj.Key, obj.Size, info.Size))
	}
	plain, cipher, err := r.encryptPut(ctx, key, r.receiptFor(ctx, obj.Name), body, obj.Size, progress)
	return objectResult{name: obj.Name, plain: plain, cipher: cipher}, err
}

// reuseObject takes an object already offsite into the seal: its ciphertext
// is hashed from the offsite store and its plaintext from the source, since
// age output is randomized and a locked object cannot be replaced.
func (r *run) reuseObject(ctx context.Context, obj sourceObject, key string, progress func(int64)) (objectResult, error) {
	cipher, err := r.offsiteDigest(ctx, key, obj.Size)
	if err != nil {
		return objectResult{}, err
	}
	if err := r.checkReceipt(ctx, key, obj.Name, cipher); err != nil {
		return objectResult{}, err
	}
	body, info, err := r.src.Get(ctx, obj.Key)
	if err != nil {
		return objectResult{}, err
	}
	defer func() { _ = body.Close() }() // read-only: a close error loses nothing
	if info.Size != obj.Size {
		return objectResult{}, permanent(fmt.Errorf("%w: %s changed size while sealing (%d, then %d bytes)", ErrSealConflict, obj.Key, obj.Size, info.Size))
	}
	plain, err := hashStream(&exactReader{r: body, n: obj.Size}, progress)
	if err != nil {
		return objectResult{}, fmt.Errorf("read %s: %w", obj.Key, err)
	}
	return objectResult{name: obj.Name, plain: plain, cipher: cipher}, nil
}

// encryptPut encrypts plain, which must hold exactly size bytes, and
// uploads it to key as a conditional create of known length (the exact age
// file size), so storage streams one request without buffering. Memory is
// age's chunk and the upload's buffers, whatever the size.
//
// The upload's body pulls the encryption: each read of it takes the next
// 64 KiB of plaintext into age's buffer, seals it in place and hands it
// out, where the ciphertext is hashed as the upload reads it. The source
// is read up to 512 KiB at a time into a lendingReader's buffer, which the
// plaintext digest reads in place (see lendingReader). No goroutine or pipe
// sits between the source and the upload, and each byte is hashed soon
// after it arrives (cache-hot).
//
// commit writes the receipt of the upload (what it is and its ciphertext
// digest, signed); it is called before the upload's last byte is sent.
func (r *run) encryptPut(ctx context.Context, key string, commit func(Blob) error, plain io.Reader, size int64, progress func(int64)) (plainBlob, cipherBlob Blob, err error) {
	// The two digests are one sha256x2.Pair: the plaintext's 64 KiB and
	// then its ciphertext are hashed together, at once; neither is copied
	// for it, but for the ciphertext's lead (age's header and tags).
	digests := sha256x2.New()
	src := &recordingReader{r: &exactReader{r: plain, n: size}}
	plainHash := newLendingReader(src, size, digests.A())
	enc, err := crypto.EncryptReader(&progressReader{r: plainHash, progress: progress}, r.recipients)
	if err != nil {
		return Blob{}, Blob{}, permanent(err)
	}
	// Every age header to these recipients has r.headerLen bytes; were it
	// otherwise, storage fails the upload before the server stores it.
	cipherSize := crypto.CiphertextSize(r.headerLen, size)
	cipherHash := &hashingReader{r: enc, h: digests.B()}
	body := &receiptReader{h: cipherHash, total: cipherSize, commit: commit}
	_, perr := r.offsite.Put(ctx, key, body, r.putOptions(cipherSize))
	rerr := src.err

	switch {
	case errors.Is(perr, storage.ErrStoredWrong):
		return Blob{}, Blob{}, r.storedWrong(ctx, key, perr)
	case perr != nil:
		if rerr != nil && !errors.Is(perr, storage.ErrExists) && !errors.Is(perr, rerr) {
			return Blob{}, Blob{}, fmt.Errorf("%w (reading: %w)", perr, rerr)
		}
		return Blob{}, Blob{}, perr
	case rerr != nil, cipherHash.n != cipherSize, plainHash.n != size:
		// The upload succeeded but the stream did not end where it should
		// have: the stored object cannot be trusted, and may be locked.
		// rerr is detail, deliberately not wrapped: this error is a seal
		// conflict, whatever ended the stream.
		return Blob{}, Blob{}, permanent(fmt.Errorf("%w: put %s: sent %d of %d bytes (stream: %v)", ErrSealConflict, key, cipherHash.n, cipherSize, rerr)) //nolint:errorlint // see above
	}
	return plainHash.blob(), cipherHash.blob(), nil
}

// offsiteDigest hashes an object already offsite after checking that its
// size is what this seal gives a plaintext of plainSize bytes; another size
// means it holds other content (or other recipients) and cannot be reused.
func (r *run) offsiteDigest(ctx context.Context, key string, plainSize int64) (Blob, error) {
	want := crypto.CiphertextSize(r.headerLen, plainSize)
	rc, info, err := r.offsite.Get(ctx, key)
	if err != nil {
		return Blob{}, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	// Another size is other content only when the bytes that arrived agree
	// with the answer's Content-Length: a faulty network can get either
	// wrong, and a read that disagrees is tried again. At most one byte past
	// want is read.
	b, err := hashStream(io.LimitReader(rc, want+1), nil)
	if err != nil {
		return Blob{}, fmt.Errorf("read %s: %w", key, err)
	}
	switch {
	case b.Size == want:
	case b.Size == info.Size, b.Size > want && info.Size > want:
		return Blob{}, permanent(fmt.Errorf("%w: %s is already offsite with another size (%s bytes), this seal would write %d: it holds other content; %s",
			ErrSealConflict, key, sizeOrMore(b.Size, want), want, r.lockAdvice(ctx, key)))
	default:
		return Blob{}, fmt.Errorf("read %s: %w: %d bytes arrived, the answer said %d", key, io.ErrUnexpectedEOF, b.Size, info.Size)
	}
	return b, nil
}

// sizeOrMore says n, or "more than want" when n is past it (reading
// stopped there).
func sizeOrMore(n, want int64) string {
	if n > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(n)
}

// putOptions are the options of every locked offsite write of this seal.
func (r *run) putOptions(size int64) storage.PutOptions {
	opts := storage.PutOptions{Size: size, IfAbsent: true}
	if r.lock != nil {
		opts.LockMode, opts.RetainUntil = r.lock.Mode, r.putRetain
	}
	return opts
}
