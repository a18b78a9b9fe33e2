package seal

import (
	"encoding/hex"
	"io"

	"github.com/safekeep-dev/safekeep/internal/sha256x2"
)

// sourceRead is the most a lendingReader reads from its source at once.
// Age asks for its 64 KiB chunks; reading the source's connection 512 KiB
// at a time costs an eighth of the system calls.
const sourceRead = 512 << 10

// lendingReader reads its source into its own buffer, up to sourceRead
// bytes a read, and hands it out by copy. What it hands out is hashed as
// stream A of a sha256x2.Pair by reference (Lend): the buffer still holds
// the plaintext when age has sealed its copy in place, so the Pair waits
// for the ciphertext without copying the plaintext. The buffer is not
// pooled: a request body may still be read after its Put returned.
type lendingReader struct {
	r      io.Reader
	w      *sha256x2.Writer
	buf    []byte
	lo, hi int   // buf[lo:hi] not handed out yet
	err    error // the source's, after buf[lo:hi]
	n      int64
}

// newLendingReader reads r, which holds size bytes (a bound for the
// buffer, not a check), hashing what it hands out into w.
func newLendingReader(r io.Reader, size int64, w *sha256x2.Writer) *lendingReader {
	return &lendingReader{r: r, w: w, buf: make([]byte, max(1, min(size, sourceRead)))}
}

func (l *lendingReader) Read(p []byte) (int, error) {
	if l.lo == l.hi {
		if l.err != nil {
			return 0, l.err
		}
		l.w.Release() // the Pair lets go of buf before it is read into again
		l.lo, l.hi = 0, 0
		l.hi, l.err = l.r.Read(l.buf)
		if l.hi == 0 {
			return 0, l.err
		}
	}
	k := copy(p, l.buf[l.lo:l.hi])
	l.w.Lend(l.buf[l.lo : l.lo+k])
	l.lo += k
	l.n += int64(k)
	return k, nil
}

// blob returns the size and hex SHA-256 of what was handed out.
func (l *lendingReader) blob() Blob {
	return Blob{Size: l.n, SHA256: hex.EncodeToString(l.w.Sum(nil))}
}
