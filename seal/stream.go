package seal

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
)

// bufSize is the size of copy buffers: large reads and writes cut
// per-call overhead. Memory per object in flight is about one of these.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { return new([bufSize]byte) }}

// hashingReader hashes and counts what is read through it.
type hashingReader struct {
	r io.Reader
	h summer
	n int64
}

// summer is a hash: crypto/sha256's, or one stream of a sha256x2.Pair.
type summer interface {
	io.Writer
	Sum(b []byte) []byte
}

func newHashingReader(r io.Reader) *hashingReader {
	return &hashingReader{r: r, h: sha256.New()}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	_, _ = h.h.Write(p[:n]) // a hash never fails
	h.n += int64(n)
	return n, err
}

// blob returns the size and hex SHA-256 of what was read.
func (h *hashingReader) blob() Blob {
	return Blob{Size: h.n, SHA256: hex.EncodeToString(h.h.Sum(nil))}
}

// writeError marks a failure to write, as opposed to one to read.
type writeError struct{ error }

func (e writeError) Unwrap() error { return e.error }

// pump copies src to dst through a large pooled buffer, reporting each
// chunk to progress. It returns the bytes copied; a failed write is
// returned as a writeError.
func pump(dst io.Writer, src io.Reader, progress func(int64)) (int64, error) {
	buf := bufPool.Get().(*[bufSize]byte)
	defer bufPool.Put(buf)
	var total int64
	for {
		n, rerr := io.ReadFull(src, buf[:])
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return total, writeError{err}
			}
			total += int64(n)
			if progress != nil {
				progress(int64(n))
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, rerr
		}
	}
}

// hashStream reads r to the end and returns its size and SHA-256.
func hashStream(r io.Reader, progress func(int64)) (Blob, error) {
	h := newHashingReader(r)
	_, err := pump(io.Discard, h, progress)
	return h.blob(), err
}

// errTooLong: a source object holds more bytes than its listed size.
var errTooLong = errors.New("object is longer than its listed size")

// exactReader passes through at most n bytes of r and fails, before passing
// on anything more, when r holds more than n. A short r shows up as a short
// count.
type exactReader struct {
	r io.Reader
	n int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		var one [1]byte
		for {
			k, err := e.r.Read(one[:])
			if k > 0 {
				return 0, errTooLong
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	k, err := e.r.Read(p)
	e.n -= int64(k)
	if err == io.EOF && e.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return k, err
}
