package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"sync"
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
// fetching objects concurrently and holding only a bounded window of them.
// A claimed entry whose object a stopped writer has not written yet (the
// head, see docs/audit.md) is read from its claim.
//
// Read checks that each entry is well formed and matches its hash (as
// Parse does), not the chain or the signatures: run Verify for that. The
// first error (an unreadable or malformed object, a failed listing) is
// yielded with a nil entry and ends the sequence.
func Read(ctx context.Context, store storage.Store, opts ReadOptions) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		for it := range scan(ctx, store, opts.Concurrency, nil) {
			if it.listErr != nil {
				yield(nil, it.listErr)
				return
			}
			if it.err == nil && it.p.hash != it.p.entry.Hash {
				it.err = fmt.Errorf("%w: content hashes to %s, the entry says %s", ErrChanged, it.p.hash, it.p.entry.Hash)
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

// item is one object of the log, as scan delivers it.
type item struct {
	key string
	// seq and short are read from the object's name; nameOK is false when
	// the name is not an entry's (the object is not fetched then).
	seq    uint64
	short  string
	nameOK bool
	// claim is set for an entry read from its claim (no entry object).
	claim bool
	// p is the parsed object, or nil with err set.
	p   *parsed
	err error
	// sigErr is the check hook's verdict.
	sigErr error
	// listErr ends the scan: the listing failed.
	listErr error

	done chan struct{}
}

// scan lists the entry objects under Dir, then the claims after the last
// entry, and delivers them in key order, fetched and parsed by conc
// workers (each also running check, when set, on what parsed). Breaking
// out stops the listing and the workers.
func scan(ctx context.Context, store storage.Store, conc int, check func(context.Context, *item)) iter.Seq[*item] {
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	return func(yield func(*item) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		order := make(chan *item, 4*conc) // bounds the window held in memory
		work := make(chan *item, 4*conc)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		for range conc {
			wg.Go(func() {
				for it := range work {
					fetch(ctx, store, it, check)
					close(it.done)
				}
			})
		}
		wg.Go(func() {
			defer close(order)
			defer close(work)
			list(ctx, store, order, work)
		})
		for it := range order {
			select {
			case <-it.done:
			case <-ctx.Done():
				return
			}
			if !yield(it) || it.listErr != nil {
				return
			}
		}
	}
}

// list sends the entry objects, then the claims after the last one, to
// order (and those to fetch to work), ending with an item carrying
// listErr when listing fails.
func list(ctx context.Context, store storage.Store, order, work chan<- *item) {
	send := func(it *item) bool {
		select {
		case order <- it:
		case <-ctx.Done():
			return false
		}
		if !it.nameOK || it.listErr != nil {
			close(it.done)
			return true
		}
		select {
		case work <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var last uint64
	for info, err := range store.List(ctx, Dir) {
		if err != nil {
			send(&item{listErr: fmt.Errorf("list %s: %w", Dir, err), done: make(chan struct{})})
			return
		}
		if strings.HasPrefix(info.Key, ClaimDir) {
			break // entry names (digits) sort before "seq/": all seen
		}
		it := &item{key: info.Key, done: make(chan struct{})}
		it.seq, it.short, it.nameOK = parseEntryKey(info.Key)
		if it.nameOK {
			last = it.seq
		}
		if !send(it) {
			return
		}
	}
	after := ""
	if last > 0 {
		after = ClaimKey(last)
	}
	for info, err := range storage.ListAfter(ctx, store, ClaimDir, after) {
		if err != nil {
			send(&item{listErr: fmt.Errorf("list %s: %w", ClaimDir, err), done: make(chan struct{})})
			return
		}
		it := &item{key: info.Key, claim: true, done: make(chan struct{})}
		it.seq, it.nameOK = parseClaimKey(info.Key)
		if !send(it) {
			return
		}
	}
}

// fetch reads and parses it, then runs check.
func fetch(ctx context.Context, store storage.Store, it *item, check func(context.Context, *item)) {
	data, err := getObject(ctx, store, it.key)
	if err != nil {
		it.err = err
		return
	}
	it.p, it.err = parse(data)
	if it.err == nil && check != nil {
		check(ctx, it)
	}
	if it.p != nil {
		it.p.signed = nil // checked: let it go
	}
}

// getObject reads a whole object of at most MaxEntrySize bytes; a larger
// one is ErrMalformed.
func getObject(ctx context.Context, store storage.Store, key string) ([]byte, error) {
	rc, _, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(io.LimitReader(rc, MaxEntrySize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxEntrySize)
	}
	return data, nil
}

// isStorageErr reports whether err is a failure to read (not a verdict on
// the content).
func isStorageErr(err error) bool {
	return err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, storage.ErrNotFound)
}
