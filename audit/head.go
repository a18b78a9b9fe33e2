package audit

import (
	"context"
	"errors"
	"fmt"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// findHead makes l.head the last committed entry, with its entry object
// written. A Log that knows its head (it wrote it) trusts it until a claim
// fails; otherwise it looks: a first look searches the claims by halving
// (about 2·log2(n) HEAD requests, no listing of the log), later looks list
// the claims after the head last known. The head found is read from its
// claim and its entry object written when missing (its writer stopped).
func (l *Log) findHead(ctx context.Context) error {
	if !l.known {
		if err := l.lookForHead(ctx); err != nil {
			return err
		}
	}
	if l.head != nil && !l.headWritten {
		_, data, err := readClaim(ctx, l.store, l.head.Seq, l.trustedKeys())
		if err != nil {
			return err
		}
		if err := l.writeEntry(ctx, l.head, data); err != nil {
			return fmt.Errorf("complete entry %d: %w", l.head.Seq, err)
		}
		l.headWritten = true
	}
	return nil
}

// lookForHead finds the last claim, from the cached head or by searching,
// and reads it into l.head.
func (l *Log) lookForHead(ctx context.Context) error {
	var from uint64
	if l.head != nil {
		from = l.head.Seq
	} else {
		var err error
		if from, err = l.searchHead(ctx); err != nil {
			return err
		}
	}
	seq, err := l.lastClaim(ctx, from)
	if err != nil {
		return err
	}
	l.head, l.headWritten = nil, false
	if seq > 0 {
		if l.head, _, err = readClaim(ctx, l.store, seq, l.trustedKeys()); err != nil {
			return err
		}
	}
	l.known = true
	return nil
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
