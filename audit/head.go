package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// findHead makes l.head the last good entry, with its entry object
// written, and l.burned the seqs after it that are burned (the next entry
// names them). A Log that knows its head (it wrote it) trusts it until a
// claim fails; otherwise it looks: a first look searches the claims by
// halving (about 2·log2(n) HEAD requests, no listing of the log), later
// looks list the claims after the head last known. The head found is read
// from its claim and its entry object written when missing (its writer
// stopped). A head whose entry object is stored wrong under object lock,
// and claims that are not trusted entries (docs/audit.md, "Burned sequence
// numbers"), are burned: a burn record is written for each, and the head
// moves back to the entry before them.
func (l *Log) findHead(ctx context.Context) error {
	if !l.known {
		if err := l.lookForHead(ctx); err != nil {
			return err
		}
	}
	for l.head != nil && !l.headWritten {
		h := l.head
		_, data, err := readClaim(ctx, l.store, h.Seq, l.trustedKeys())
		if err != nil {
			return err
		}
		err = l.writeEntry(ctx, h, data)
		if err == nil {
			l.headWritten = true
			break
		}
		if !errors.Is(err, storage.ErrStoredWrong) {
			return fmt.Errorf("complete entry %d: %w", h.Seq, err)
		}
		if err := l.writeBurn(ctx, h.Seq, BurnObjectStoredWrong, EntryKey(h.Seq, h.Hash), h.Hash, err); err != nil {
			return err
		}
		if err := l.stepBack(ctx); err != nil {
			l.known = false
			return err
		}
	}
	return nil
}

// stepBack makes the entry l.head chains onto the head, l.head and the
// seqs it names burned, burned.
func (l *Log) stepBack(ctx context.Context) error {
	h := l.head
	burned := append(append(slices.Clone(h.Burned), h.Seq), l.burned...)
	prevSeq := h.Seq - 1 - uint64(len(h.Burned))
	l.head, l.headWritten, l.burned = nil, false, burned
	if prevSeq == 0 {
		return nil
	}
	prev, _, err := readClaim(ctx, l.store, prevSeq, l.trustedKeys())
	switch {
	case err != nil:
		return fmt.Errorf("the entry before burned entry %d: %w", h.Seq, err)
	case prev.Hash != h.Prev:
		return fmt.Errorf("the entry before burned entry %d: %w: its claim holds %s, entry %d names %s", h.Seq, ErrOutOfOrder, prev.Hash, h.Seq, h.Prev)
	}
	l.head = prev
	return nil
}

// lookForHead finds the last claim, from the cached head or by searching,
// and reads it into l.head. Claims that are not trusted entries of their
// seq, going back from the last (at most maxBurnBack), are burned, unless
// an entry object of that seq holds a trusted entry: that one is the head.
func (l *Log) lookForHead(ctx context.Context) error {
	from := l.nextSeq() - 1
	if from == 0 {
		var err error
		if from, err = l.searchHead(ctx); err != nil {
			return err
		}
	}
	seq, err := l.lastClaim(ctx, from)
	if err != nil {
		return err
	}
	l.head, l.headWritten, l.burned = nil, false, nil
	var broken []uint64
	for ; seq > 0; seq-- {
		e, _, err := readClaim(ctx, l.store, seq, l.trustedKeys())
		if err == nil {
			l.head = e
			break
		}
		if !errors.Is(err, ErrUntrustedClaim) {
			return err // not read
		}
		obj, oerr := l.entryObject(ctx, seq)
		if oerr != nil {
			return oerr
		}
		if obj != nil {
			l.head, l.headWritten = obj, true
			break
		}
		if len(broken) == maxBurnBack {
			return fmt.Errorf("find audit head: more than %d claims up to %s are not trusted entries: %w", maxBurnBack, ClaimKey(seq), err)
		}
		done, berr := l.burnedBefore(ctx, seq)
		switch {
		case berr != nil:
			return berr
		case done:
		case !brokenClaim(err):
			return err // well-formed, signed by a key this writer does not know: refused
		default:
			if err := l.writeBurn(ctx, seq, BurnClaimUnreadable, ClaimKey(seq), "", err); err != nil {
				return err
			}
		}
		broken = append(broken, seq)
	}
	slices.Reverse(broken)
	l.burned = broken
	l.known = true
	return nil
}

// entryObject returns the entry an entry object of seq holds when one
// holds a well-formed entry of seq signed by a trusted key (nil when none
// does).
func (l *Log) entryObject(ctx context.Context, seq uint64) (*Entry, error) {
	for info, err := range l.store.List(ctx, EntryPrefix(seq)) {
		if err != nil {
			return nil, fmt.Errorf("find audit head: %w", err)
		}
		data, err := getObject(ctx, l.store, info.Key)
		switch {
		case errors.Is(err, ErrMalformed), errors.Is(err, storage.ErrNotFound):
			continue
		case err != nil:
			return nil, fmt.Errorf("find audit head: %w", err)
		}
		e, err := parseTrusted(data, l.trustedKeys())
		if err == nil && e.Seq == seq && info.Key == EntryKey(seq, e.Hash) {
			return e, nil
		}
	}
	return nil, nil
}

// searchHead returns a committed sequence number near the head (0 for an
// empty log) by probing claims: doubling until one is missing, then
// halving. Claims have no gaps (a writer claims n+1 only after reading
// n), so the answer is the head when no writer raced the search; listing
// after it then finds any newer claim.
func (l *Log) searchHead(ctx context.Context) (uint64, error) {
	var lo uint64 // a claimed seq, or 0
	hi := uint64(1)
	for {
		ok, err := l.claimed(ctx, hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // lo claimed (or 0), hi not
		mid := lo + (hi-lo)/2
		ok, err := l.claimed(ctx, mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// claimed reports whether seq's claim exists.
func (l *Log) claimed(ctx context.Context, seq uint64) (bool, error) {
	_, err := l.store.Stat(ctx, ClaimKey(seq))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("find audit head: %w", err)
}

// lastClaim returns the highest claimed seq from from on (from itself
// when no later claim exists).
func (l *Log) lastClaim(ctx context.Context, from uint64) (uint64, error) {
	after := ""
	if from > 0 {
		after = ClaimKey(from)
	}
	last := from
	for info, err := range storage.ListAfter(ctx, l.store, ClaimDir, after) {
		if err != nil {
			return 0, fmt.Errorf("find audit head: %w", err)
		}
		seq, ok := parseClaimKey(info.Key)
		if !ok {
			return 0, fmt.Errorf("find audit head: %w: %s is not a claim's name", ErrMalformed, info.Key)
		}
		last = max(last, seq)
	}
	return last, nil
}

// readClaim reads and checks the claim of seq: a well-formed entry of that
// sequence number whose content matches its hash, signed by one of keys
// (else the error wraps ErrUntrustedClaim). It returns the entry and the
// claim's bytes (what its entry object holds).
func readClaim(ctx context.Context, store storage.Store, seq uint64, keys []crypto.VerifyKey) (*Entry, []byte, error) {
	data, err := getObject(ctx, store, ClaimKey(seq))
	if err != nil {
		return nil, nil, fmt.Errorf("read audit claim %d: %w", seq, err)
	}
	e, err := parseTrusted(data, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("read audit claim %s: %w", ClaimKey(seq), err)
	}
	if e.Seq != seq {
		return nil, nil, fmt.Errorf("read audit claim %s: %w: holds entry %d", ClaimKey(seq), ErrOutOfOrder, e.Seq)
	}
	return e, data, nil
}
