package sha256x2

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestPairMatchesSHA256 writes two streams in random interleavings and
// piece sizes (one stream far ahead, past maxLead; pieces that split
// blocks; empty ones) and wants crypto/sha256's digests.
func TestPairMatchesSHA256(t *testing.T) {
	if !haveX2 {
		t.Log("no SHA extensions here: the Pair is two crypto/sha256 hashes")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 63, 64, 65, 127, 128, 1000, 65536 + 16, 3<<20 + 7}
	for _, na := range sizes {
		for _, nb := range sizes {
			a, b := random(rng, na), random(rng, nb)
			for _, maxPiece := range []int{1, 64, 4096, 70000, 2 << 20} {
				if maxPiece < 4096 && na+nb > 1<<20 {
					continue // millions of writes: slow under -race, and no new case
				}
				p := New()
				wa, wb := p.A(), p.B()
				ra, rb := a, b
				for len(ra) > 0 || len(rb) > 0 {
					w, r := wa, &ra
					if len(ra) == 0 || (len(rb) > 0 && rng.IntN(2) == 0) {
						w, r = wb, &rb
					}
					k := min(len(*r), rng.IntN(maxPiece+1))
					if n, err := w.Write((*r)[:k]); n != k || err != nil {
						t.Fatalf("Write = %d, %v", n, err)
					}
					*r = (*r)[k:]
				}
				if !sums(p, a, b) {
					t.Fatalf("sizes %d, %d, pieces up to %d: digests differ from crypto/sha256", na, nb, maxPiece)
				}
			}
		}
	}
}

// TestBlockx2 checks the two-message block function alone on messages of
// whole blocks, against crypto/sha256 (via the state Pair hands it).
func TestBlockx2(t *testing.T) {
	if !haveX2 {
		t.Skip("no SHA extensions on this machine")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{64, 128, 64 * 1000} {
		a, b := random(rng, n), random(rng, n)
		p := New()
		p.blocks(0, a, b)
		if !sums(p, a, b) {
			t.Fatalf("%d bytes: blockx2 differs from crypto/sha256", n)
		}
	}
}

// sums: the Pair's digests are crypto/sha256's of a and b; both stay
// after the Sum (a Sum does not change them).
func sums(p *Pair, a, b []byte) bool {
	wa, wb := sha256.Sum256(a), sha256.Sum256(b)
	for range 2 {
		if string(p.A().Sum(nil)) != string(wa[:]) || string(p.B().Sum(nil)) != string(wb[:]) {
			return false
		}
	}
	return true
}

func random(rng *rand.Rand, n int) []byte {
	b := make([]byte, 0, n+8)
	for len(b) < n {
		b = binary.LittleEndian.AppendUint64(b, rng.Uint64())
	}
	return b[:n]
}

func BenchmarkPair(b *testing.B) {
	data := random(rand.New(rand.NewPCG(5, 6)), 64<<10)
	b.SetBytes(2 << 16)
	p := New()
	for b.Loop() {
		_, _ = p.A().Write(data)
		_, _ = p.B().Write(data)
	}
}

func BenchmarkTwoSHA256(b *testing.B) {
	data := random(rand.New(rand.NewPCG(5, 6)), 64<<10)
	b.SetBytes(2 << 16)
	ha, hb := sha256.New(), sha256.New()
	for b.Loop() {
		ha.Write(data)
		hb.Write(data)
	}
}
