package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/safekeep-dev/safekeep/storage"
)

// writeEntry creates e's entry object from data, its claim's bytes. One
// already there (written from the claim by another writer, or by this
// writer's earlier try) counts only once read back and found to hold data:
// a server that skipped its checksum check may have kept other bytes.
// Wrong bytes are removed and written again once. When object lock keeps
// them, the error wraps storage.ErrStoredWrong (permanent) and names the
// entry and its object: Verify fails at that entry until they are removed.
func (l *Log) writeEntry(ctx context.Context, e *Entry, data []byte) error {
	key := EntryKey(e.Seq, e.Hash)
	for rewrote := false; ; rewrote = true {
		err := l.put(ctx, key, data, e.Time, entryContentType)
		if errors.Is(err, storage.ErrExists) {
			err = l.sameEntry(ctx, key, data)
		}
		if !errors.Is(err, storage.ErrStoredWrong) {
			return err
		}
		err = storage.RemoveStoredWrong(ctx, l.store, key, err)
		if errors.Is(err, storage.ErrStoredWrong) {
			return fmt.Errorf("audit entry %d: its object %s: %w; object lock keeps it, so audit verify fails at entry %d until it is removed (its claim %s holds the entry as signed)",
				e.Seq, key, err, e.Seq, ClaimKey(e.Seq))
		}
		if !errors.Is(err, storage.ErrRemovedWrong) || rewrote {
			return fmt.Errorf("audit entry %d: its object %s: %w", e.Seq, key, err)
		}
	}
}

// sameEntry reads back the entry object at key, found already there, and
// returns nil when it holds data, an error wrapping storage.ErrStoredWrong
// when it holds other bytes, and the read's error otherwise (a read that
// fails its checksum may be damaged on the way: tried again later).
func (l *Log) sameEntry(ctx context.Context, key string, data []byte) error {
	got, err := getObject(ctx, l.store, key)
	switch {
	case err != nil:
		return fmt.Errorf("read back %s: %w", key, err)
	case !bytes.Equal(got, data):
		return fmt.Errorf("%w: read back, it is not its claim's bytes (%d bytes there, %d in the claim)", storage.ErrStoredWrong, len(got), len(data))
	}
	return nil
}
