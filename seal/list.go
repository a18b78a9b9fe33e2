package seal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// EntryState says whether a backup folder offsite holds a restorable seal.
type EntryState string

const (
	// StateSealed: seal.json is there and well formed (List does not check
	// its signature or objects: Verify does).
	StateSealed EntryState = "sealed"
	// StateIncomplete: no seal.json, as a seal in progress or interrupted
	// leaves it. Never restorable.
	StateIncomplete EntryState = "incomplete"
	// StateInvalid: seal.json is there but does not parse. Never restorable.
	StateInvalid EntryState = "invalid"
)

// Entry is one backup folder offsite.
type Entry struct {
	Schedule, Backup string
	State            EntryState
	// SealedAt is the seal's time (sealed entries only).
	SealedAt time.Time
	// Objects and Bytes count encrypted objects and their ciphertext: as
	// sealed for sealed entries, as found under objects/ otherwise.
	Objects int
	Bytes   int64
	// Seal is the parsed seal (sealed entries only).
	Seal *Seal
	// Err says why an invalid entry is invalid.
	Err error
}

// Restorable reports whether the entry is sealed. Verify it before use.
func (e Entry) Restorable() bool { return e.State == StateSealed }

// List returns every backup folder in the offsite store, sorted by schedule
// then backup name: sealed ones, and separately marked the incomplete and
// invalid ones, which must never be restored. It reads each seal.json but
// verifies nothing; use Verify for that.
func List(ctx context.Context, offsite storage.Store) ([]Entry, error) {
	type folder struct {
		entry  Entry
		sealed bool
	}
	folders := map[string]*folder{}
	for info, err := range offsite.List(ctx, BackupsDir) {
		if err != nil {
			return nil, fmt.Errorf("list %s in %s: %w", BackupsDir, offsite, err)
		}
		parts := strings.SplitN(strings.TrimPrefix(info.Key, BackupsDir), "/", 3)
		if len(parts) != 3 || ValidateName("schedule", parts[0]) != nil || ValidateName("backup", parts[1]) != nil {
			continue // not ours
		}
		id := parts[0] + "/" + parts[1]
		f := folders[id]
		if f == nil {
			f = &folder{entry: Entry{Schedule: parts[0], Backup: parts[1], State: StateIncomplete}}
			folders[id] = f
		}
		switch rest := parts[2]; {
		case rest == sealName:
			f.sealed = true
		case strings.HasPrefix(rest, objectsDir):
			f.entry.Objects++
			f.entry.Bytes += info.Size
		}
	}
	out := make([]Entry, 0, len(folders))
	for _, f := range folders {
		e := f.entry
		if f.sealed {
			data, err := getSmall(ctx, offsite, SealKey(e.Schedule, e.Backup), maxSealSize)
			if err != nil {
				return nil, fmt.Errorf("read seal of %s/%s: %w", e.Schedule, e.Backup, err)
			}
			sl, err := ParseSeal(data)
			if err == nil && (sl.Schedule != e.Schedule || sl.Backup != e.Backup) {
				err = fmt.Errorf("%w: it seals %s/%s", ErrBadSeal, sl.Schedule, sl.Backup)
			}
			if err != nil {
				e.State, e.Err = StateInvalid, err
			} else {
				e.State, e.Seal, e.SealedAt = StateSealed, sl, sl.SealedAt
				e.Objects, e.Bytes = len(sl.Objects), sl.CiphertextBytes()
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := strings.Compare(a.Schedule, b.Schedule); c != 0 {
			return c
		}
		return strings.Compare(a.Backup, b.Backup)
	})
	return out, nil
}
