package audit

import (
	"context"
	"fmt"
	"time"
)

// maxFindBack bounds how many entries Find reads back from the head.
const maxFindBack = 1000

// Find looks back from the head for the latest entry that match accepts,
// reading at most 1,000 entries and none older than since, and skipping
// burned seqs. It returns nil
// when none matches. A writer uses it to avoid recording twice what it
// may have recorded before a restart (for example a seal found already
// sealed); it is a best effort, not a lock against other writers.
func (l *Log) Find(ctx context.Context, since time.Time, match func(*Entry) bool) (*Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.known = false // look at the bucket, not at what this Log wrote last
	if err := l.findHead(ctx); err != nil {
		return nil, fmt.Errorf("audit find: %w", err)
	}
	if l.head == nil {
		return nil, nil
	}
	// Back along the chain: a burned seq (docs/audit.md, "Burned sequence
	// numbers") holds no entry of the log, even when its claim does.
	for seq, n := l.head.Seq, 0; seq > 0 && n < maxFindBack; n++ {
		e := l.head
		if seq != l.head.Seq {
			var err error
			if e, _, err = readClaim(ctx, l.store, seq, l.trustedKeys()); err != nil {
				return nil, fmt.Errorf("audit find: %w", err)
			}
		}
		seq = e.Seq - 1 - uint64(len(e.Burned))
		if match(e) {
			return e, nil
		}
		if e.Time.Before(since) {
			return nil, nil
		}
	}
	return nil, nil
}

// KnownHead returns the seq of the newest entry l knows to be committed (0
// for an empty log); ok is false when l has not found the head yet. Any
// entry l appends from now on takes a higher seq.
func (l *Log) KnownHead() (seq uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.nextSeq() - 1; n > 0 {
		return n, true
	}
	return 0, l.known
}
