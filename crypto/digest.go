package crypto

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
)

// Digests describes one encrypted object: the SHA-256 and size of its
// plaintext and of its age file.
type Digests struct {
	PlainSHA256  [sha256.Size]byte
	PlainSize    int64
	CipherSHA256 [sha256.Size]byte
	CipherSize   int64
}

// copyBlock is how much plaintext EncryptDigest and DecryptDigest move per
// step: 16 age chunks, so each call into age and into the hashes is large.
const copyBlock = 1 << 20

var blockPool = sync.Pool{New: func() any { b := make([]byte, copyBlock); return &b }}

// EncryptDigest reads src to io.EOF, writes the age file of what it read to
// dst, and returns the SHA-256 and size of the plaintext read and of the age
// file written. It is the sealer's per-byte pipeline, done in one pass over
// each block with 1 MiB of buffer. The file's size is EncryptedSize of the
// plaintext size. On error, dst holds an incomplete file that will not
// decrypt; the error says whether reading src or writing dst failed.
func EncryptDigest(dst io.Writer, src io.Reader, recipients []Recipient) (Digests, error) {
	cw := &hashWriter{w: dst, h: sha256.New()}
	w, err := Encrypt(cw, recipients)
	if err != nil {
		return Digests{}, err
	}
	ph := sha256.New()
	bp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bp)
	buf := *bp
	var plainN int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			ph.Write(buf[:n])
			if _, err := w.Write(buf[:n]); err != nil {
				return Digests{}, fmt.Errorf("write age file: %w", err)
			}
			plainN += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Digests{}, fmt.Errorf("read plaintext: %w", rerr)
		}
	}
	if err := w.Close(); err != nil {
		return Digests{}, fmt.Errorf("write age file: %w", err)
	}
	d := Digests{PlainSize: plainN, CipherSize: cw.n}
	ph.Sum(d.PlainSHA256[:0])
	cw.h.Sum(d.CipherSHA256[:0])
	return d, nil
}

// DecryptDigest decrypts the age file in src to dst and returns the SHA-256
// and size of the age file read and of the plaintext written. Its errors are
// those of Decrypt and its Reader (ErrWrongIdentity, ErrCorrupt, source
// errors), or of dst. On error, dst may hold a prefix of the plaintext, all of
// it authenticated.
func DecryptDigest(dst io.Writer, src io.Reader, identities []Identity) (Digests, error) {
	cr := &hashReader{r: src, h: sha256.New()}
	r, err := Decrypt(cr, identities)
	if err != nil {
		return Digests{}, err
	}
	pw := &hashWriter{w: dst, h: sha256.New()}
	bp := blockPool.Get().(*[]byte)
	defer blockPool.Put(bp)
	if _, err := io.CopyBuffer(pw, onlyReader{r}, *bp); err != nil {
		return Digests{}, err
	}
	d := Digests{PlainSize: pw.n, CipherSize: cr.n}
	pw.h.Sum(d.PlainSHA256[:0])
	cr.h.Sum(d.CipherSHA256[:0])
	return d, nil
}

// hashWriter hashes and counts what it passes on to w.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// hashReader hashes and counts what it reads from r.
type hashReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (hr *hashReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	return n, err
}

// onlyReader hides WriterTo/ReaderFrom so io.CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }
