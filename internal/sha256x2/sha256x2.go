// Package sha256x2 computes the SHA-256 of two byte streams written side by
// side (a plaintext and its ciphertext) faster than two separate hashes: on
// amd64 with the SHA extensions, one block function runs the rounds of both
// messages interleaved, as the core can (SHA256RNDS2 is latency-bound).
// Elsewhere it is two crypto/sha256 hashes. Digests are crypto/sha256's.
package sha256x2

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
)

// Pair hashes two streams, A and B, written through A and B. Bytes of the
// stream that is ahead wait until the other catches up: copied when they
// came by Write, by reference when they came by Lend. Bytes that can be
// paired at once are hashed from the caller's slice. Not safe for
// concurrent use.
type Pair struct {
	lanes [2]lane
}

// lane is one stream. Its bytes not hashed yet are buf[off:] (owned), then
// ref (lent by the caller); while ref is not empty, len(buf)-off is a
// whole number of blocks, so that both can be paired block by block.
type lane struct {
	h   [8]uint32
	n   uint64 // bytes hashed into h
	buf []byte
	off int
	ref []byte
	fb  hash.Hash
}

// initial is SHA-256's initial hash value.
var initial = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// New returns a Pair with nothing written.
func New() *Pair {
	p := &Pair{}
	for i := range p.lanes {
		p.lanes[i].h = initial
		if !haveX2 {
			p.lanes[i].fb = sha256.New()
		}
	}
	return p
}

// A is the writer of stream A, B of stream B.
func (p *Pair) A() *Writer { return &Writer{p: p, i: 0} }
func (p *Pair) B() *Writer { return &Writer{p: p, i: 1} }

// Writer writes one stream of a Pair.
type Writer struct {
	p *Pair
	i int
}

// Write never fails. b is not kept: what cannot be hashed yet is copied.
func (w *Writer) Write(b []byte) (int, error) {
	w.p.write(w.i, b, false)
	return len(b), nil
}

// Lend writes b without copying what cannot be hashed yet: b must stay
// unchanged until the next call on this Writer (Write, Lend, Release or
// Sum) returns.
func (w *Writer) Lend(b []byte) {
	w.p.write(w.i, b, true)
}

// Release copies the bytes of the last Lend that wait to be hashed, so
// that the caller may change them.
func (w *Writer) Release() {
	w.p.lanes[w.i].own()
}

// Sum appends the SHA-256 of what was written to the stream so far to b.
// The stream goes on alone (crypto/sha256) after: call it when the stream
// has ended, or the other has.
func (w *Writer) Sum(b []byte) []byte {
	l := &w.p.lanes[w.i]
	l.alone()
	return l.fb.Sum(b)
}

// maxLead bounds the bytes one stream may be ahead of the other before
// they are hashed alone (a bounded buffer, whatever the callers do).
const maxLead = 1 << 20

// write takes b into stream i: it completes a partial block waiting, lets
// the rest of b wait by reference while the two streams' whole blocks are
// hashed in pairs, then copies what of b is left unless lent.
func (p *Pair) write(i int, b []byte, lend bool) {
	me := &p.lanes[i]
	if me.fb != nil {
		me.fb.Write(b)
		return
	}
	me.own()
	if part := (len(me.buf) - me.off) % 64; part != 0 {
		c := min(64-part, len(b))
		me.put(b[:c])
		b = b[c:]
	}
	me.ref = b
	p.pairBlocks()
	if !lend {
		me.own()
	}
	if me.waiting() > maxLead {
		me.alone()
	}
}

// pairBlocks hashes the whole blocks both streams have waiting, in pairs.
func (p *Pair) pairBlocks() {
	a, b := &p.lanes[0], &p.lanes[1]
	for {
		ha, hb := a.head(), b.head()
		k := min(len(ha), len(hb))
		if k == 0 {
			return
		}
		p.blocks(0, ha[:k], hb[:k])
		a.advance(k)
		b.advance(k)
	}
}

// waiting is how many written bytes of the lane wait to be hashed.
func (l *lane) waiting() int { return len(l.buf) - l.off + len(l.ref) }

// head is the lane's next whole blocks waiting in one slice: owned ones
// first, then lent ones.
func (l *lane) head() []byte {
	if w := len(l.buf) - l.off; w > 0 {
		return l.buf[l.off : l.off+(w&^63)]
	}
	return l.ref[:len(l.ref)&^63]
}

// advance drops the first k bytes of head, hashed.
func (l *lane) advance(k int) {
	if l.off < len(l.buf) {
		l.off += k
		return
	}
	l.ref = l.ref[k:]
}

// own copies the lent bytes waiting into the lane's buffer.
func (l *lane) own() {
	if len(l.ref) > 0 {
		l.put(l.ref)
	}
	l.ref = nil
}

// put appends b to the owned bytes waiting, first moving them to the
// front of the buffer when that makes room.
func (l *lane) put(b []byte) {
	if len(b) == 0 {
		return
	}
	if l.off > 0 && len(l.buf)+len(b) > cap(l.buf) {
		l.buf = l.buf[:copy(l.buf, l.buf[l.off:])]
		l.off = 0
	}
	l.buf = append(l.buf, b...)
}

// blocks hashes mine into lane i and theirs into the other lane, both
// the same whole number of blocks.
func (p *Pair) blocks(i int, mine, theirs []byte) {
	a, b := mine, theirs
	if i == 1 {
		a, b = theirs, mine
	}
	blockx2(&p.lanes[0].h, a, &p.lanes[1].h, b)
	p.lanes[0].n += uint64(len(a))
	p.lanes[1].n += uint64(len(b))
}

// alone continues the lane with crypto/sha256 from its state: the other
// stream has fallen too far behind (or ended).
func (l *lane) alone() {
	if l.fb != nil {
		return
	}
	l.own()
	state := make([]byte, 0, 4+32+64+8)
	state = append(state, "sha\x03"...)
	for _, v := range l.h {
		state = binary.BigEndian.AppendUint32(state, v)
	}
	state = append(state, make([]byte, 64)...) // no partial block: n is whole blocks
	state = binary.BigEndian.AppendUint64(state, l.n)
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic("sha256x2: crypto/sha256 refused a state: " + err.Error())
	}
	h.Write(l.buf[l.off:])
	l.fb, l.buf, l.off = h, nil, 0
}
