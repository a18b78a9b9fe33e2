package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/storage"
)

// segmentReadConcurrency is how many claims a writer reads at once to
// build a segment whose entries it did not all append itself.
const segmentReadConcurrency = 16

// segmentContentType is the content type of segment objects.
const segmentContentType = "application/x-ndjson"

// noteSegment runs after e (stored as data) is committed, with l.mu held.
// It remembers data, and when the last complete segment boundary at or
// below e.Seq has no segment yet, writes it: right away when e is the
// boundary, else after a Stat finds it missing (a writer stopped before
// writing it). A boundary seen done is cached, so a Log Stats at most once
// per boundary. A failure leaves the segment to a later Append: segments
// speed reading up, they are not the log.
func (l *Log) noteSegment(ctx context.Context, e *Entry, data []byte) {
	size := l.segmentSize()
	if size == 0 {
		return
	}
	if l.recent == nil {
		l.recent = map[uint64][]byte{}
	}
	l.recent[e.Seq] = data
	last := e.Seq / size * size // the last complete boundary
	if last == 0 || last <= l.segDone {
		return
	}
	first := last - size + 1
	if last != e.Seq {
		_, err := l.store.Stat(ctx, SegmentKey(first, last))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return // try again on the next Append
		}
		if err == nil {
			l.segmentDone(last)
			return
		}
	}
	if err := l.writeSegment(ctx, first, last); err == nil || errors.Is(err, errBurnedInSegment) {
		l.segmentDone(last)
	}
}

// errBurnedInSegment: a claim of the segment's range is not an entry (a
// burned seq's, docs/audit.md): the segment is not written, and readers
// read its entries one object each.
var errBurnedInSegment = errors.New("a claim in its range is not an entry (a burned seq)")

// segmentSize is the Log's segment size, 0 for none.
func (l *Log) segmentSize() uint64 {
	if l.opts.SegmentSize < 0 {
		return 0
	}
	return uint64(l.opts.SegmentSize)
}

// segmentDone caches that the segment ending at last exists and forgets
// the entries it holds.
func (l *Log) segmentDone(last uint64) {
	l.segDone = last
	for seq := range l.recent {
		if seq <= last {
			delete(l.recent, seq)
		}
	}
}

// writeSegment creates the segment of entries first..last from the bytes
// this Log appended and, for the others, their claims (the same bytes as
// the entry objects). A segment already there (another writer's) is fine.
func (l *Log) writeSegment(ctx context.Context, first, last uint64) error {
	lines := make([][]byte, last-first+1)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(segmentReadConcurrency)
	for seq := first; seq <= last; seq++ {
		if data, ok := l.recent[seq]; ok {
			lines[seq-first] = data
			continue
		}
		g.Go(func() error {
			data, err := getObject(gctx, l.store, ClaimKey(seq))
			if err != nil {
				return fmt.Errorf("read audit claim %d: %w", seq, err)
			}
			lines[seq-first] = data
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("write audit segment %d-%d: %w", first, last, err)
	}
	for _, line := range lines {
		if _, err := Parse(line); err != nil || bytes.IndexByte(line, '\n') >= 0 {
			return fmt.Errorf("write audit segment %d-%d: %w", first, last, errBurnedInSegment)
		}
	}
	e, err := Parse(lines[len(lines)-1])
	if err != nil {
		return fmt.Errorf("write audit segment %d-%d: %w", first, last, err)
	}
	err = l.put(ctx, SegmentKey(first, last), EncodeSegment(lines), e.Time, segmentContentType)
	if errors.Is(err, storage.ErrExists) {
		return nil
	}
	return err
}

// EncodeSegment is the content of a segment holding entries: each entry
// object's bytes followed by a newline (canonical JSON has none inside).
func EncodeSegment(entries [][]byte) []byte {
	n := 0
	for _, e := range entries {
		n += len(e) + 1
	}
	var buf bytes.Buffer
	buf.Grow(n)
	for _, e := range entries {
		buf.Write(e)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
