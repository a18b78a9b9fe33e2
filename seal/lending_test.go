package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/safekeep-dev/safekeep/internal/sha256x2"
)

// TestLendingReader reads a source through a lendingReader as age does
// (pieces of its choosing, each sealed in place right after: here
// overwritten) and writes a ciphertext to the Pair's other stream after
// each piece: the plaintext digest is crypto/sha256's of the source, the
// pieces are the source, and the source's error comes after its bytes.
func TestLendingReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, size := range []int{0, 1, 100, 64 << 10, sourceRead + 12345, 3 * sourceRead} {
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"whole": func(r io.Reader) io.Reader { return r },
			"half":  iotest.HalfReader,
			"small": iotest.OneByteReader,
		} {
			if name == "small" && size > 1<<16 {
				continue
			}
			plain := make([]byte, size)
			for i := range plain {
				plain[i] = byte(rng.Uint32())
			}
			boom := errors.New("source broke")
			src := io.MultiReader(wrap(bytes.NewReader(plain)), iotest.ErrReader(boom))
			p := sha256x2.New()
			l := newLendingReader(src, int64(size), p.A())
			var got, cipher []byte
			var err error
			for {
				piece := make([]byte, 1+rng.IntN(70000))
				var n int
				n, err = l.Read(piece)
				got = append(got, piece[:n]...)
				for i := range piece[:n] {
					piece[i] ^= 0x5c // sealed in place
				}
				cipher = append(cipher, piece[:n]...)
				_, _ = p.B().Write(piece[:n])
				if err != nil {
					break
				}
			}
			if !errors.Is(err, boom) || !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes, %s reads: got %d bytes equal %v, error %v", size, name, len(got), bytes.Equal(got, plain), err)
			}
			want := sha256.Sum256(plain)
			if b := l.blob(); b.Size != int64(size) || b.SHA256 != hex.EncodeToString(want[:]) {
				t.Fatalf("%d bytes, %s reads: blob %+v", size, name, b)
			}
			if wb := sha256.Sum256(cipher); hex.EncodeToString(p.B().Sum(nil)) != hex.EncodeToString(wb[:]) {
				t.Fatalf("%d bytes, %s reads: ciphertext digest differs", size, name)
			}
		}
	}
}
