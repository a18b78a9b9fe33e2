package audit

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // S3's ETag of a single-part object is its MD5; compared, not trusted for security
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"

	"github.com/safekeep-dev/safekeep/storage"
)

// segmentWindow bounds the segments scan holds at once (each up to
// DefaultSegmentSize entries).
const segmentWindow = 4

// item is one object of the log, or one finding about a segment, as scan
// delivers it.
type item struct {
	key string
	// size and etag are the listing's.
	size int64
	etag string
	// seq and short are read from the object's name; nameOK is false when
	// the name is not an entry's (the object is not fetched then).
	seq    uint64
	short  string
	nameOK bool
	// claim is set for an entry read from its claim (no entry object);
	// fromSegment for one whose bytes came from a segment that agrees
	// with the listed object.
	claim       bool
	fromSegment bool
	// p is the parsed object, or nil with err set.
	p   *parsed
	err error
	// sigErr is the check hook's verdict.
	sigErr error
	// listErr ends the scan: the listing failed.
	listErr error
	// note, when set, makes the item a finding about a segment, not an
	// object of the log.
	note *note
}

// note is a problem (kind set) or a warning (kind nil) about a segment.
type note struct {
	kind error
	seq  uint64
	key  string
	msg  string
}

func noteItem(kind error, seq uint64, key, format string, args ...any) *item {
	return &item{key: key, note: &note{kind: kind, seq: seq, key: key, msg: fmt.Sprintf(format, args...)}}
}

// segRef is a segment found by listing.
type segRef struct {
	key         string
	first, last uint64
}

// job is a unit of fetching: one object, or the listed objects a segment
// covers (read from the segment where it agrees with them).
type job struct {
	items []*item
	seg   *segRef
	// notes are the job's findings, delivered after its items.
	notes []*item
	done  chan struct{}
}

type scanOptions struct {
	conc int
	// deep fetches every entry object, segments or not (and still
	// compares the segments with them).
	deep bool
	// check, when set, runs on each entry that parsed (the signature).
	check func(context.Context, *item)
}

// scan lists the segments, the entry objects under Dir, then the claims
// after the last entry, and delivers them in key order (a segment's
// findings after the objects it covers), fetched and parsed by opts.conc
// workers. Breaking out stops the listing and the workers.
func scan(ctx context.Context, store storage.Store, opts scanOptions) iter.Seq[*item] {
	if opts.conc <= 0 {
		opts.conc = DefaultConcurrency
	}
	return func(yield func(*item) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		l := &lister{
			store: store,
			order: make(chan *job, 4*opts.conc), // bounds the window held in memory
			work:  make(chan *job, 4*opts.conc),
			slots: make(chan struct{}, segmentWindow),
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		for range opts.conc {
			wg.Go(func() {
				for j := range l.work {
					j.run(ctx, store, opts)
					close(j.done)
				}
			})
		}
		wg.Go(func() {
			defer close(l.order)
			defer close(l.work)
			l.run(ctx)
		})
		for j := range l.order {
			select {
			case <-j.done:
			case <-ctx.Done():
				return
			}
			for _, it := range j.items {
				if !yield(it) || it.listErr != nil {
					return
				}
			}
			for _, it := range j.notes {
				if !yield(it) {
					return
				}
			}
			if j.seg != nil {
				<-l.slots
			}
		}
	}
}

// lister sends jobs in key order to order, and those to fetch to work.
type lister struct {
	store       storage.Store
	order, work chan *job
	slots       chan struct{}
}

func (l *lister) send(ctx context.Context, j *job) bool {
	if j.done == nil {
		j.done = make(chan struct{})
	}
	if j.seg != nil {
		select {
		case l.slots <- struct{}{}:
		case <-ctx.Done():
			return false
		}
	}
	select {
	case l.order <- j:
	case <-ctx.Done():
		return false
	}
	if j.seg == nil && (j.items[0].note != nil || !j.items[0].nameOK || j.items[0].listErr != nil) {
		close(j.done) // nothing to fetch
		return true
	}
	select {
	case l.work <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

func (l *lister) one(ctx context.Context, it *item) bool {
	return l.send(ctx, &job{items: []*item{it}})
}

func (l *lister) fail(ctx context.Context, prefix string, err error) {
	l.one(ctx, &item{listErr: fmt.Errorf("list %s: %w", prefix, err)})
}

// run lists the segments, then the entry objects, grouping those a segment
// covers, then the claims after the last entry object.
func (l *lister) run(ctx context.Context) {
	segs, notes, err := listSegments(ctx, l.store)
	if err != nil {
		l.fail(ctx, SegmentDir, err)
		return
	}
	for _, n := range notes {
		if !l.one(ctx, n) {
			return
		}
	}
	last, ok := l.entries(ctx, segs)
	if !ok {
		return
	}
	for _, w := range uncovered(segs, last) {
		if !l.one(ctx, w) {
			return
		}
	}
	after := ""
	if last > 0 {
		after = ClaimKey(last)
	}
	for info, err := range storage.ListAfter(ctx, l.store, ClaimDir, after) {
		if err != nil {
			l.fail(ctx, ClaimDir, err)
			return
		}
		it := &item{key: info.Key, claim: true}
		it.seq, it.nameOK = parseClaimKey(info.Key)
		if !l.one(ctx, it) {
			return
		}
	}
}

// entries lists the entry objects, sending those a segment covers as one
// job per segment and the others one by one. It returns the last entry's
// seq, and false when it stopped (cancelled, or the listing failed).
func (l *lister) entries(ctx context.Context, segs []segRef) (uint64, bool) {
	var group *job // the objects of segs[si] so far
	flush := func() bool {
		g := group
		group = nil
		return g == nil || l.send(ctx, g)
	}
	si := 0
	var last uint64
	for info, err := range listEntries(ctx, l.store) {
		if err != nil {
			if flush() {
				l.fail(ctx, Dir, err)
			}
			return 0, false
		}
		it := &item{key: info.Key, size: info.Size, etag: info.ETag}
		it.seq, it.short, it.nameOK = parseEntryKey(info.Key)
		if it.nameOK {
			last = it.seq
			for si < len(segs) && segs[si].last < it.seq {
				si++
			}
			covered := si < len(segs) && segs[si].first <= it.seq
			if group != nil && (!covered || group.seg != &segs[si]) && !flush() {
				return 0, false
			}
			if covered {
				if group == nil {
					group = &job{seg: &segs[si]}
				}
				group.items = append(group.items, it)
				continue
			}
		} else if group != nil {
			group.items = append(group.items, it) // keeps key order
			continue
		}
		if !l.one(ctx, it) {
			return 0, false
		}
	}
	return last, flush()
}

// uncovered warns of the entries up to last that no segment covers, but
// for a tail shorter than a segment (the last segment's size, or
// DefaultSegmentSize): those were read one object each.
func uncovered(segs []segRef, last uint64) []*item {
	size := uint64(DefaultSegmentSize)
	if len(segs) > 0 {
		size = segs[len(segs)-1].last - segs[len(segs)-1].first + 1
	}
	var out []*item
	warn := func(from, to uint64) {
		out = append(out, noteItem(nil, from, SegmentKey(from, to),
			"no segment covers entries %d to %d: they were read one object each", from, to))
	}
	next := uint64(1)
	for _, s := range segs {
		if s.first > last {
			break
		}
		if s.first > next {
			warn(next, s.first-1)
		}
		next = s.last + 1
	}
	if last >= next && last-next+1 >= size {
		warn(next, last)
	}
	return out
}

// run fetches what the job needs.
func (j *job) run(ctx context.Context, store storage.Store, opts scanOptions) {
	if j.seg == nil {
		fetchItem(ctx, store, j.items[0], opts.check)
		return
	}
	j.runSegment(ctx, store, opts)
}

// runSegment reads the segment and takes each listed object's bytes from
// it when the listing shows the object holds the same bytes: its name
// records the line's hash, its size is the line's, and its ETag is the
// line's MD5 (a single-part upload's ETag). Any other object is fetched,
// and a line that none of the objects of its number holds is a finding.
func (j *job) runSegment(ctx context.Context, store storage.Store, opts scanOptions) {
	s := j.seg
	lines, err := readSegment(ctx, store, *s)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound):
		j.notes = append(j.notes, noteItem(nil, s.first, s.key, "segment %s vanished while read: its entries were read one object each", s.key))
	case errors.Is(err, ErrMalformed):
		j.notes = append(j.notes, noteItem(ErrMalformed, s.first, s.key, "segment %s: %s", s.key, trimSentinel(err)))
	default:
		j.items = append([]*item{{key: s.key, nameOK: true, err: fmt.Errorf("read segment: %w", err)}}, j.items...)
		return
	}
	n := s.last - s.first + 1
	matched := make([]bool, n)
	held := make([]string, n) // the first object of each number
	var fetches []*item
	for _, it := range j.items {
		if !it.nameOK {
			continue
		}
		i := it.seq - s.first
		if held[i] == "" {
			held[i] = it.key
		}
		if lines != nil && !opts.deep && j.useLine(ctx, it, lines[i], opts.check) {
			matched[i] = true
			continue
		}
		fetches = append(fetches, it)
	}
	// The objects the segment does not vouch for, a few at once (all of
	// them with Deep).
	data := make([][]byte, len(fetches))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, opts.conc/segmentWindow))
	for k, it := range fetches {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			data[k] = fetchItem(ctx, store, it, opts.check)
		})
	}
	wg.Wait()
	for k, it := range fetches {
		if i := it.seq - s.first; lines != nil && data[k] != nil && bytes.Equal(data[k], lines[i]) {
			matched[i] = true
		}
	}
	if lines == nil {
		return
	}
	for i := range n {
		if held[i] != "" && !matched[i] {
			j.notes = append(j.notes, noteItem(ErrChanged, s.first+i, s.key,
				"line %d of segment %s is not the content of the entry object %s", i+1, s.key, held[i]))
		}
	}
}

// useLine makes line the content of it when the listing shows the object
// holds the same bytes; it reports whether it did.
func (j *job) useLine(ctx context.Context, it *item, line []byte, check func(context.Context, *item)) bool {
	if it.size != int64(len(line)) {
		return false
	}
	etag := strings.Trim(it.etag, `"`)
	if len(etag) != 2*md5.Size || strings.ContainsRune(etag, '-') {
		return false // not a plain MD5 (multipart, or unknown): fetch and compare
	}
	sum := md5.Sum(line) //nolint:gosec // see the import
	if !strings.EqualFold(etag, hex.EncodeToString(sum[:])) {
		return false
	}
	p, err := parse(line)
	if err != nil || it.key != EntryKey(it.seq, p.entry.Hash) {
		return false
	}
	it.p, it.fromSegment = p, true
	if check != nil {
		check(ctx, it)
	}
	it.p.signed = nil // checked: let it go
	return true
}

// readSegment reads s and splits it into its lines: exactly one per entry
// its name spans, each ended by a newline.
func readSegment(ctx context.Context, store storage.Store, s segRef) ([][]byte, error) {
	n := s.last - s.first + 1
	data, err := getLimited(ctx, store, s.key, int64(n)*(MaxEntrySize+1))
	if err != nil {
		return nil, err
	}
	lines := make([][]byte, 0, n)
	for len(data) > 0 && uint64(len(lines)) <= n {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%w: its last line has no newline", ErrMalformed)
		}
		lines = append(lines, data[:i:i])
		data = data[i+1:]
	}
	switch {
	case len(data) > 0:
		return nil, fmt.Errorf("%w: it holds more than %d lines, its name says %d entries", ErrMalformed, n, n)
	case uint64(len(lines)) != n:
		return nil, fmt.Errorf("%w: it holds %d lines, its name says %d entries", ErrMalformed, len(lines), n)
	}
	return lines, nil
}

// fetchItem reads and parses it, then runs check; it returns the bytes
// read (nil on a failure).
func fetchItem(ctx context.Context, store storage.Store, it *item, check func(context.Context, *item)) []byte {
	data, err := getObject(ctx, store, it.key)
	if err != nil {
		it.err = err
		return nil
	}
	it.p, it.err = parse(data)
	if it.err == nil && check != nil {
		check(ctx, it)
	}
	if it.p != nil {
		it.p.signed = nil // checked: let it go
	}
	return data
}
