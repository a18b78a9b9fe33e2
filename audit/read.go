package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// DefaultConcurrency is how many entry objects Read and Verify fetch at once.
const DefaultConcurrency = 32

// ReadOptions tune Read. The zero value reads every entry.
type ReadOptions struct {
	// Since and Until select entries with Since <= Time < Until; a zero
	// bound is open. Every entry is still fetched: times are not in the
	// object names.
	Since, Until time.Time
	// Concurrency is how many objects are fetched at once; 0 means
	// DefaultConcurrency.
	Concurrency int
}

// Read yields the entries of the audit log in store in sequence order,
// holding only a bounded window of them. It reads as Verify does: one
// listing, a segment per DefaultSegmentSize entries where the segment
// agrees with the listed objects (else the objects), and the entries after
// the last segment one object each, concurrently. A claimed entry whose
// object a stopped writer has not written yet (the head, see
// docs/audit.md) is read from its claim.
//
// Read checks that each entry is well formed and matches its hash (as
// Parse does), not the chain or the signatures: run Verify for that. The
// first error (an unreadable or malformed object, a failed listing) is
// yielded with a nil entry and ends the sequence.
func Read(ctx context.Context, store storage.Store, opts ReadOptions) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		burned, err := burnedSeqs(ctx, store)
		if err != nil {
			yield(nil, err)
			return
		}
		for it := range scan(ctx, store, scanOptions{conc: opts.Concurrency}) {
			switch {
			case it.listErr != nil:
				yield(nil, it.listErr)
				return
			case it.note != nil:
				continue // a segment's problem: the entries read are the objects'
			case !it.nameOK:
				it.err = fmt.Errorf("%w: not an audit entry's name", ErrMalformed)
			}
			if it.err == nil && it.p.hash != it.p.entry.Hash {
				it.err = fmt.Errorf("%w: content hashes to %s, the entry says %s", ErrChanged, it.p.hash, it.p.entry.Hash)
			}
			if it.err != nil && burned[it.seq] && !isStorageErr(it.err) {
				continue // a burned seq's object stored wrong: Verify names it
			}
			if it.err != nil {
				yield(nil, fmt.Errorf("read %s: %w", it.key, it.err))
				return
			}
			e := it.p.entry
			if (!opts.Since.IsZero() && e.Time.Before(opts.Since)) || (!opts.Until.IsZero() && !e.Time.Before(opts.Until)) {
				continue
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// burnedSeqs are the seqs with a well-formed burn record (its signature
// is Verify's to check, as entries' are).
func burnedSeqs(ctx context.Context, store storage.Store) (map[uint64]bool, error) {
	burned := map[uint64]bool{}
	for info, err := range store.List(ctx, BurnDir) {
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", BurnDir, err)
		}
		seq, _, ok := parseBurnKey(info.Key)
		if !ok {
			continue
		}
		data, err := getObject(ctx, store, info.Key)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", info.Key, err)
		}
		if b, _, err := parseBurn(data); err == nil && b.Seq == seq {
			burned[seq] = true
		}
	}
	return burned, nil
}

// getObject reads a whole object of at most MaxEntrySize bytes; a larger
// one is ErrMalformed.
func getObject(ctx context.Context, store storage.Store, key string) ([]byte, error) {
	return getLimited(ctx, store, key, MaxEntrySize)
}

// getLimited reads a whole object of at most limit bytes; a larger one is
// ErrMalformed.
func getLimited(ctx context.Context, store storage.Store, key string, limit int64) ([]byte, error) {
	rc, info, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	var buf bytes.Buffer
	if info.Size > 0 && info.Size <= limit {
		buf.Grow(int(info.Size))
	}
	if _, err := buf.ReadFrom(io.LimitReader(rc, limit+1)); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, limit)
	}
	return buf.Bytes(), nil
}

// isStorageErr reports whether err is a failure to read (not a verdict on
// the content).
func isStorageErr(err error) bool {
	return err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, storage.ErrNotFound)
}
