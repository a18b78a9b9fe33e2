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

// TestPairLends mixes Write, Lend and Release on both streams in random
// interleavings and piece sizes; a lent piece is overwritten as soon as
// the Pair may let go of it (after the next call on its Writer), so a
// Pair that kept reading it would get another digest.
func TestPairLends(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 63, 64, 65, 1000, 200_000, 3<<20 + 5} {
		for _, maxPiece := range []int{1, 64, 4096, 70000} {
			if maxPiece < 4096 && n > 1<<16 {
				continue
			}
			a, b := random(rng, n), random(rng, n+rng.IntN(300))
			p := New()
			ws := [2]*Writer{p.A(), p.B()}
			rest := [2][]byte{a, b}
			var lent [2][]byte // the last lent piece, until the Pair lets go of it
			scribble := func(i int) {
				for j := range lent[i] {
					lent[i][j] ^= 0xa5
				}
				lent[i] = nil
			}
			for len(rest[0]) > 0 || len(rest[1]) > 0 {
				i := rng.IntN(2)
				if len(rest[i]) == 0 {
					i = 1 - i
				}
				k := min(len(rest[i]), rng.IntN(maxPiece+1))
				piece := rest[i][:k]
				rest[i] = rest[i][k:]
				switch rng.IntN(3) {
				case 0:
					if _, err := ws[i].Write(piece); err != nil {
						t.Fatal(err)
					}
					scribble(i)
				case 1:
					own := append([]byte(nil), piece...)
					ws[i].Lend(own)
					scribble(i)
					lent[i] = own
				default:
					ws[i].Lend(append([]byte(nil), piece...))
					ws[i].Release()
					scribble(i)
				}
			}
			if !sums(p, a, b) {
				t.Fatalf("%d bytes, pieces up to %d: digests differ from crypto/sha256", n, maxPiece)
			}
		}
	}
}

// TestPairCopiesOnlyTheLead: written as a seal writes them (the plaintext
// lent 64 KiB at a time, then its ciphertext, 16 bytes longer, in smaller
// reads after a header), the Pair copies about the ciphertext's lead over
// the plaintext, not the streams.
func TestPairCopiesOnlyTheLead(t *testing.T) {
	if !haveX2 {
		t.Skip("no SHA extensions: nothing waits")
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const chunk, chunks = 64 << 10, 64
	plain := random(rng, chunk*chunks)
	var cipher []byte
	p := New()
	wa, wb := p.A(), p.B()
	header := random(rng, 200)
	_, _ = wb.Write(header)
	cipher = append(cipher, header...)
	for c := range chunks {
		wa.Lend(plain[c*chunk : (c+1)*chunk])
		ct := random(rng, chunk+16)
		cipher = append(cipher, ct...)
		for len(ct) > 0 {
			k := min(len(ct), 1+rng.IntN(20000))
			_, _ = wb.Write(ct[:k])
			ct = ct[k:]
		}
		if lead := 200 + 16*(c+1); cap(p.lanes[0].buf) > 64 || cap(p.lanes[1].buf) > 2*(lead+64) {
			t.Fatalf("chunk %d: buffers of %d and %d bytes for a lead of %d", c, cap(p.lanes[0].buf), cap(p.lanes[1].buf), lead)
		}
	}
	if !sums(p, plain, cipher) {
		t.Fatal("digests differ from crypto/sha256")
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
