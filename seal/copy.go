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

// errUploadEnded stops the encrypting goroutine once the upload returns.
var errUploadEnded = errors.New("upload ended")

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
// a pooled buffer and age's chunk, whatever the size.
//
// commit writes the receipt of the upload (what it is and its ciphertext
// digest, signed); it is called before the upload's last byte is sent.
func (r *run) encryptPut(ctx context.Context, key string, commit func(Blob) error, plain io.Reader, size int64, progress func(int64)) (plainBlob, cipherBlob Blob, err error) {
	var hdr bytes.Buffer
	sw := &switchWriter{w: &hdr}
	enc, err := crypto.Encrypt(sw, r.recipients) // writes the header now
	if err != nil {
		return Blob{}, Blob{}, permanent(err)
	}
	cipherSize := crypto.CiphertextSize(int64(hdr.Len()), size)

	// age writes whole sealed chunks (64 KiB and its tag), which the pipe
	// hands to the upload's reader without a buffer of its own: one copy
	// less of every byte than through a bufio.Writer.
	pr, pw := io.Pipe()
	sw.w = pw
	plainHash := newHashingReader(&exactReader{r: plain, n: size})
	done := make(chan error, 1)
	go func() {
		_, err := pump(enc, plainHash, progress)
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	cipherHash := newHashingReader(io.MultiReader(&hdr, pr))
	body := &receiptReader{h: cipherHash, total: cipherSize, commit: commit}
	_, perr := r.offsite.Put(ctx, key, body, r.putOptions(cipherSize))
	pr.CloseWithError(errUploadEnded)
	werr := <-done

	switch {
	case errors.Is(perr, storage.ErrStoredWrong):
		return Blob{}, Blob{}, r.storedWrong(ctx, key, perr)
	case perr != nil:
		if werr != nil && !errors.Is(werr, errUploadEnded) && !errors.Is(werr, io.ErrClosedPipe) && !errors.Is(perr, storage.ErrExists) {
			return Blob{}, Blob{}, fmt.Errorf("%w (reading: %w)", perr, werr)
		}
		return Blob{}, Blob{}, perr
	case werr != nil, cipherHash.n != cipherSize, plainHash.n != size:
		// The upload succeeded but the stream did not end where it should
		// have: the stored object cannot be trusted, and may be locked.
		// werr is detail, deliberately not wrapped: this error is a seal
		// conflict, whatever ended the stream.
		return Blob{}, Blob{}, permanent(fmt.Errorf("%w: put %s: sent %d of %d bytes (stream: %v)", ErrSealConflict, key, cipherHash.n, cipherSize, werr)) //nolint:errorlint // see above

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
