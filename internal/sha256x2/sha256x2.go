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

// Pair hashes two streams, A and B, written through A and B. Bytes of the stream that is ahead wait
// (copied) until the other catches up; the one that catches up is hashed
// from the caller's slice. Not safe for concurrent use.
type Pair struct {
	lanes [2]lane
}

type lane struct {
	h   [8]uint32
	n   uint64 // bytes hashed into h
	buf []byte // bytes written; buf[off:] are not hashed yet
	off int
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

// Write never fails.
func (w *Writer) Write(b []byte) (int, error) {
	w.p.write(w.i, b)
	return len(b), nil
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

func (p *Pair) write(i int, b []byte) {
	me, other := &p.lanes[i], &p.lanes[1-i]
	if me.fb != nil {
		me.fb.Write(b)
		return
	}
	if me.waiting() == 0 {
		// Pair b itself with what the other stream has waiting.
		if k := min(len(b), other.waiting()) &^ 63; k > 0 {
			p.blocks(i, b[:k], other.take(k))
			b = b[k:]
		}
	}
	me.put(b)
	if k := min(me.waiting(), other.waiting()) &^ 63; k > 0 {
		p.blocks(i, me.take(k), other.take(k))
	}
	if me.waiting() > maxLead {
		me.alone()
	}
}

// waiting is how many written bytes of the lane wait to be hashed.
func (l *lane) waiting() int { return len(l.buf) - l.off }

// take returns the next k waiting bytes, valid until the next put.
func (l *lane) take(k int) []byte {
	b := l.buf[l.off : l.off+k]
	l.off += k
	return b
}

// put appends b to the waiting bytes, first moving them to the front of
// the buffer when that makes room.
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
