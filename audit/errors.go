package audit

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every problem Verify finds wraps one of them, so callers
// test with errors.Is; *VerifyError carries the first problem.
var (
	// ErrChanged: an entry's content does not match its hash (the hash it
	// carries, or the one its object name records): it was edited.
	ErrChanged = errors.New("entry changed")
	// ErrMissing: a sequence number has no entry (a gap): an entry was
	// removed.
	ErrMissing = errors.New("entry missing")
	// ErrOutOfOrder: an object holds an entry of another sequence number
	// than its name says, or an entry's prev is not the hash of the entry
	// before it: the chain was reordered or spliced.
	ErrOutOfOrder = errors.New("chain out of order")
	// ErrReplayed: an earlier entry's content appears again under a later
	// sequence number.
	ErrReplayed = errors.New("entry replayed")
	// ErrForked: two objects hold entries with the same sequence number.
	ErrForked = errors.New("chain forked")
	// ErrBadSignature: an entry's signature does not verify under the key
	// it names.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey: an entry is signed by a key that is neither pinned nor
	// published in the bucket.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrMalformed: an object under audit/ is not a well-formed entry (or
	// its name is not an entry's name).
	ErrMalformed = errors.New("malformed entry")
	// ErrContention: Append lost the race for a sequence number more times
	// than Options.MaxAttempts allows.
	ErrContention = errors.New("too many concurrent appends")
)

// VerifyError is what Verify returns when the chain is not intact: the
// first problem (lowest sequence number), and how many there are. It
// unwraps to the problem's sentinel.
type VerifyError struct {
	First Problem
	Count int
}

func (e *VerifyError) Error() string {
	if e.Count > 1 {
		return fmt.Sprintf("audit log is not intact: %s (and %d more problems)", e.First, e.Count-1)
	}
	return "audit log is not intact: " + e.First.String()
}

func (e *VerifyError) Unwrap() error { return e.First.Err }
