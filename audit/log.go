package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Defaults of Options.
const (
	// DefaultRetainDays is six years (HIPAA 164.316(b)(2)), independent of
	// the backups' retention.
	DefaultRetainDays = 2190
	// DefaultMaxAttempts bounds the tries of one Append that loses the race
	// for a sequence number to other writers.
	DefaultMaxAttempts = 100
	// maxStoredWrong bounds the writes of one Append that the server
	// stores wrong (each burns a seq under object lock) before it fails.
	maxStoredWrong = 2
)

// Options tune a Log. The zero value means: entries locked in governance
// mode for DefaultRetainDays, the real clock.
type Options struct {
	// RetainDays is how long each entry and claim is object-locked, from
	// the entry's time; 0 means DefaultRetainDays.
	RetainDays int
	// LockMode is the object-lock mode; "" means storage.LockGovernance.
	LockMode storage.LockMode
	// NoLock writes without object lock, for a bucket that has none (an
	// OffsiteTarget without spec.objectLock). The log is then tamper-
	// evident but not tamper-proof.
	NoLock bool
	// Now tells the time of new entries; nil means time.Now.
	Now func() time.Time
	// MaxAttempts bounds the tries of one Append against concurrent
	// writers; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// TrustedKeys are keys, besides the Log's own, whose claims it adopts
	// and chains onto (the target's other audit keys: other writers, keys
	// before a rotation). A claim signed by any other key is refused
	// (ErrUntrustedClaim).
	TrustedKeys []crypto.VerifyKey
	// SegmentSize is how many entries a checkpoint segment holds (see
	// docs/audit.md); 0 means DefaultSegmentSize, below 0 writes none.
	// Only tests change it.
	SegmentSize int
}

// Log appends entries to the audit log in one offsite store. It is safe
// for concurrent use, and any number of Logs, in any number of processes,
// may append to the same store at once: see Append.
type Log struct {
	store  storage.Store
	signer crypto.SigningKey
	pub    crypto.VerifyKey
	opts   Options

	mu sync.Mutex
	// head is the last entry known to be committed (nil: none, or not
	// looked for yet: known says which); headWritten says its entry
	// object is known to exist.
	head        *Entry
	known       bool
	headWritten bool
	// burned are the seqs after head that are burned: the next entry
	// names them (Entry.Burned) and takes the seq after them.
	burned []uint64
	// actor is the actor of the last Append, which burn records name.
	actor     string
	published bool
	// recent holds the bytes of entries this Log appended since the last
	// segment it knows of (segDone, its last seq), to write the next one.
	recent  map[uint64][]byte
	segDone uint64
}

// New returns a Log writing to store (rooted at <prefix>/safekeep/v1),
// signing with signer. It does no I/O.
func New(store storage.Store, signer crypto.SigningKey, opts Options) *Log {
	if opts.RetainDays <= 0 {
		opts.RetainDays = DefaultRetainDays
	}
	if opts.LockMode == "" {
		opts.LockMode = storage.LockGovernance
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	return &Log{store: store, signer: signer, pub: signer.Public(), opts: opts}
}

// Append records rec as the next entry and returns it.
//
// It takes the next sequence number by creating that number's claim
// object (a conditional create whose content is the whole signed entry),
// then writes the entry object; both are object-locked. The claim is the
// commit: once it is written the entry is part of the log, and if this
// writer stops before the entry object is written, the next Append (by any
// writer) writes it from the claim first. A writer that loses the claim to
// another learns the new head and tries again, at most
// Options.MaxAttempts times (then ErrContention). So two entries never
// share a sequence number, the chain never forks, nothing is overwritten,
// and no gap is left.
//
// rec.Actor and rec.Kind are required; rec.Details is JSON-encoded (a
// json.RawMessage is taken as it is).
func (l *Log) Append(ctx context.Context, rec Record) (*Entry, error) {
	if rec.Actor == "" || rec.Kind == "" {
		return nil, errors.New("audit append: actor and kind are required")
	}
	details, err := encodeDetails(rec.Details)
	if err != nil {
		return nil, fmt.Errorf("audit append %s: %w", rec.Kind, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.actor = rec.Actor
	if err := l.publish(ctx); err != nil {
		return nil, fmt.Errorf("audit append %s: %w", rec.Kind, err)
	}
	wrong := 0 // the writes of this Append stored wrong
	for attempt := 1; ; attempt++ {
		if err := l.findHead(ctx); err != nil {
			return nil, fmt.Errorf("audit append %s: %w", rec.Kind, err)
		}
		e := &Entry{
			Format: FormatV1, Seq: l.nextSeq(), Time: normalTime(l.opts.Now()),
			Actor: rec.Actor, Kind: rec.Kind, Subject: rec.Subject, Details: details,
			Burned: slices.Clone(l.burned),
		}
		if l.head != nil {
			e.Prev = l.head.Hash
		}
		data, err := encode(e, l.signer, l.pub)
		if err != nil {
			return nil, err
		}
		won, again, err := l.commit(ctx, e, data, &wrong)
		switch {
		case err != nil:
			return nil, fmt.Errorf("audit append %s: %w", rec.Kind, err)
		case again:
			continue
		case won:
			return e, nil
		}
		l.known = false // someone else took e.Seq: look again
		if attempt >= l.opts.MaxAttempts {
			return nil, fmt.Errorf("audit append %s: %w (%d attempts)", rec.Kind, ErrContention, attempt)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("audit append %s: %w", rec.Kind, err)
		}
	}
}

// commit claims e.Seq with data and writes e's entry object. It reports
// won when e is committed, again when e is to be built again at once (a
// write stored wrong: removed, or its seq burned), and neither when
// another writer took e.Seq. wrong counts the writes stored wrong, at most
// maxStoredWrong.
func (l *Log) commit(ctx context.Context, e *Entry, data []byte, wrong *int) (won, again bool, err error) {
	storedWrong := func(err error) error {
		if *wrong++; *wrong > maxStoredWrong {
			return fmt.Errorf("entry %d: %w (%d writes of this entry stored wrong)", e.Seq, err, *wrong)
		}
		return nil
	}
	won, err = l.claim(ctx, e, data)
	switch {
	case errors.Is(err, storage.ErrRemovedWrong):
		// Its claim was stored wrong and removed: again.
		return false, true, storedWrong(err)
	case errors.Is(err, storage.ErrStoredWrong):
		// Its claim is stored wrong and locked: e.Seq is burned, and e
		// appended after it.
		if err := storedWrong(err); err != nil {
			return false, false, err
		}
		if err := l.writeBurn(ctx, e.Seq, BurnClaimStoredWrong, ClaimKey(e.Seq), "", err); err != nil {
			return false, false, err
		}
		l.burned = append(l.burned, e.Seq)
		return false, true, nil
	case err != nil || !won:
		return false, false, err
	}
	l.head, l.headWritten, l.burned = e, false, nil
	err = l.writeEntry(ctx, e, data)
	switch {
	case err == nil:
		l.headWritten = true
		l.noteSegment(ctx, e, data)
	case errors.Is(err, storage.ErrStoredWrong):
		// Committed, but its object holds other bytes that object lock
		// keeps: the next look for the head burns e.Seq, and the record
		// is appended after it (the burned claim still holds e, as
		// signed).
		return false, true, storedWrong(err)
	}
	// Else the claim stands and the next Append writes the entry object
	// (and the segment): the entry is committed either way.
	return true, false, nil
}

// nextSeq is the seq the next entry takes: after the head and the seqs
// burned after it.
func (l *Log) nextSeq() uint64 {
	var n uint64
	if l.head != nil {
		n = l.head.Seq
	}
	return n + uint64(len(l.burned)) + 1
}

// encodeDetails JSON-encodes d; nil is no details.
func encodeDetails(d any) (json.RawMessage, error) {
	switch d := d.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		if !json.Valid(d) {
			return nil, errors.New("details are not valid JSON")
		}
		return d, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode details: %w", err)
	}
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	return b, nil
}

// publish writes the public key to keys/ once per Log, as seals do.
func (l *Log) publish(ctx context.Context) error {
	if l.published {
		return nil
	}
	if err := seal.PublishSigningKey(ctx, l.store, l.pub); err != nil {
		return err
	}
	l.published = true
	return nil
}

// claim creates e's claim. It reports false when another writer holds
// e.Seq; a claim found with e's own hash (this writer's earlier try, whose
// answer was lost) is a win.
func (l *Log) claim(ctx context.Context, e *Entry, data []byte) (bool, error) {
	err := l.put(ctx, ClaimKey(e.Seq), data, e.Time, entryContentType)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, storage.ErrStoredWrong) {
		return false, storage.RemoveStoredWrong(ctx, l.store, ClaimKey(e.Seq), err)
	}
	if !errors.Is(err, storage.ErrExists) {
		return false, err
	}
	got, _, err := readClaim(ctx, l.store, e.Seq, l.trustedKeys())
	switch {
	case brokenClaim(err):
		return false, nil // not a trusted entry: the next look for the head burns it
	case err != nil:
		return false, err
	}
	return got.Hash == e.Hash, nil
}

// entryContentType is the content type of entry objects and claims.
const entryContentType = "application/json"

// put creates key, locked until at (an entry's time) plus the retention.
func (l *Log) put(ctx context.Context, key string, data []byte, at time.Time, contentType string) error {
	opts := storage.PutOptions{Size: int64(len(data)), ContentType: contentType, IfAbsent: true}
	if !l.opts.NoLock {
		opts.LockMode = l.opts.LockMode
		opts.RetainUntil = at.AddDate(0, 0, l.opts.RetainDays)
	}
	_, err := l.store.Put(ctx, key, bytes.NewReader(data), opts)
	if errors.Is(err, storage.ErrLocked) {
		// VersityGW checks the lock of the object there before the
		// condition: a locked object refusing a create exists.
		return fmt.Errorf("%w: %w", storage.ErrExists, err)
	}
	return err
}

// backoff waits a jittered, growing time (up to about 100 ms) before a
// writer that lost a claim tries again.
func backoff(ctx context.Context, attempt int) error {
	d := min(time.Duration(1<<min(attempt, 7))*time.Millisecond, 100*time.Millisecond)
	t := time.NewTimer(d/2 + rand.N(d/2+1))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
