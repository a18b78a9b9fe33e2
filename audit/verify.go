package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// DefaultMaxProblems is how many problems a Report lists by default.
const DefaultMaxProblems = 100

// VerifyOptions tune Verify. The zero value verifies with the keys
// published in the bucket.
type VerifyOptions struct {
	// Keys pins the signing keys: an entry signed by any other key is
	// ErrUnknownKey. Empty means the keys published in the bucket
	// (keys/signing.pub and keys/signing/<id>.pub), which protects against
	// accidents but not against someone who can write to the bucket.
	Keys []crypto.VerifyKey
	// Concurrency is how many objects are fetched at once; 0 means
	// DefaultConcurrency.
	Concurrency int
	// MaxProblems bounds Report.Problems (all are counted); 0 means
	// DefaultMaxProblems.
	MaxProblems int
	// Deep fetches every entry object, as if there were no segments (the
	// segments are still compared with the objects, byte for byte).
	// Without it an object a segment covers is read from the segment when
	// the listing shows it holds the same bytes (docs/audit.md).
	Deep bool
	// Visit, when set, is called with each entry that verified (no
	// problem found at it: form, hash, name, signature, link to the entry
	// before), in sequence order, pending head included; a non-nil return
	// stops Verify, which returns it wrapped. Entries with problems are
	// left out (the Report names them). It lets a reader (the report)
	// verify and collect in one pass.
	Visit func(*Entry) error
}

// Report is what Verify found.
type Report struct {
	// Entries counts the entries checked, pending ones included.
	Entries int `json:"entries"`
	// FromSegments counts the entries read from segments instead of
	// their own objects (the listing showed the same bytes).
	FromSegments int `json:"fromSegments"`
	// Pending counts entries committed by their claim whose entry object
	// a stopped writer has not written yet (at most the head; the next
	// Append writes it).
	Pending int `json:"pending"`
	// HeadSeq and HeadHash are the last entry's: record them to detect a
	// later truncation (VerifyOptions has no way to, by design of a
	// chain: see docs/audit.md).
	HeadSeq  uint64 `json:"headSeq"`
	HeadHash string `json:"headHash,omitempty"`
	// First and Last are the times of the first and last entries.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// KeyIDs are the keys that signed entries, in order of first use.
	KeyIDs []string `json:"keyIds,omitempty"`
	// PinnedKeys is set when the keys were pinned (VerifyOptions.Keys).
	PinnedKeys bool `json:"pinnedKeys"`
	// Problems are the first MaxProblems problems by sequence number;
	// ProblemCount counts them all.
	Problems     []Problem `json:"problems,omitempty"`
	ProblemCount int       `json:"problemCount"`
	// Hidden are entry objects delete markers hide, read from the version
	// under each marker that matches (see Hidden); one with no match is
	// also a missing entry among Problems.
	Hidden []Hidden `json:"hidden,omitempty"`
	// Tampered are the keys under audit/ holding a delete marker or more
	// than one version (a versioned bucket only): writes the log never
	// makes (ErrTampered), whether or not the chain still verifies.
	Tampered []Tampered `json:"tampered,omitempty"`
	// Burned are the burned seqs (docs/audit.md, "Burned sequence
	// numbers"): each covered by a burn record signed by a trusted key,
	// the entry after them chaining onto the entry before them.
	Burned []BurnedSeq `json:"burned,omitempty"`
	// Warnings are what does not make the log less intact: entries no
	// segment covers (read one object each, as fully checked), a segment
	// that overlaps another or vanished while read.
	Warnings []string `json:"warnings,omitempty"`
}

// Intact reports whether the chain verified with no problem.
func (r *Report) Intact() bool { return r.ProblemCount == 0 }

// TamperedErr is nil when no key under audit/ holds a delete marker or an
// extra version, else an error wrapping ErrTampered that counts them.
func (r *Report) TamperedErr() error {
	if len(r.Tampered) == 0 {
		return nil
	}
	markers, versions := 0, 0
	for _, t := range r.Tampered {
		if t.Markers > 0 {
			markers++
		}
		if t.Versions > 1 {
			versions++
		}
	}
	return fmt.Errorf("%w: %d object(s) under %s with delete markers, %d with more than one version", ErrTampered, markers, Dir, versions)
}

// Problem is one thing wrong with the log, at one sequence number.
type Problem struct {
	// Kind names the problem: changed, missing, out-of-order, replayed,
	// forked, bad-signature, unknown-key, malformed.
	Kind string `json:"kind"`
	// Seq is the sequence number concerned; 0 for an object whose name
	// is not an entry's.
	Seq uint64 `json:"seq"`
	// Key is the object concerned (relative to the store's root).
	Key     string `json:"key"`
	Message string `json:"message"`
	// Err wraps the sentinel (ErrChanged...) for errors.Is.
	Err error `json:"-"`
}

// String is one line: "entry <seq> (<key>): <kind>: <message>".
func (p Problem) String() string {
	if p.Seq == 0 {
		return fmt.Sprintf("object %s: %s: %s", p.Key, p.Kind, p.Message)
	}
	return fmt.Sprintf("entry %d (%s): %s: %s", p.Seq, p.Key, p.Kind, p.Message)
}

// kindNames are the Problem.Kind of each sentinel.
var kindNames = map[error]string{
	ErrChanged:      "changed",
	ErrMissing:      "missing",
	ErrOutOfOrder:   "out-of-order",
	ErrReplayed:     "replayed",
	ErrForked:       "forked",
	ErrBadSignature: "bad-signature",
	ErrUnknownKey:   "unknown-key",
	ErrMalformed:    "malformed",
	ErrBurnedValid:  "burned-valid",
}

// Verify walks the whole audit log in store and checks, for every entry in
// sequence order: the object is a well-formed entry; its name's sequence
// number and hash are the entry's; its content matches its hash; its
// signature verifies under a pinned or published key; its prev is the hash
// of the entry before; no sequence number is missing or held twice.
//
// It lists the entry objects once and reads, for each checkpoint segment,
// the segment instead of the objects it covers when the listing shows they
// hold the segment's bytes (name, size, MD5 ETag); other objects, and the
// entries after the last segment, are fetched one by one. Every entry is
// checked the same either way, and a segment line that no object of its
// number holds is ErrChanged (at the segment). A missing segment is a
// warning (Report.Warnings): its entries are read one object each.
// Options.Deep fetches every object.
//
// It returns the report and nil for an intact chain, the report and a
// *VerifyError (wrapping the first problem's sentinel: ErrChanged,
// ErrMissing, ErrOutOfOrder, ErrReplayed, ErrForked, ErrBadSignature,
// ErrUnknownKey or ErrMalformed) when problems were found, or a partial
// report and another error when the log could not be read. It writes
// nothing: a pending head is reported (Report.Pending), not completed.
func Verify(ctx context.Context, store storage.Store, opts VerifyOptions) (*Report, error) {
	store, hidden, tampered, err := findVersions(ctx, store)
	if err != nil {
		return &Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	keys := newKeyring(store, opts.Keys)
	v := &verifier{
		rep:       &Report{PinnedKeys: len(opts.Keys) > 0, Hidden: hidden, Tampered: tampered},
		max:       opts.MaxProblems,
		next:      1,
		linkKnown: true,
	}
	if v.max <= 0 {
		v.max = DefaultMaxProblems
	}
	burns, refused, err := listBurns(ctx, store, keys)
	if err != nil {
		return v.rep, fmt.Errorf("verify audit log: %w", err)
	}
	v.burns = burns
	for _, n := range refused {
		v.noteFinding(n.note)
	}
	visit := func(it *item) error {
		if opts.Visit == nil {
			return nil
		}
		if err := opts.Visit(it.p.entry); err != nil {
			return fmt.Errorf("verify audit log: %w", err)
		}
		return nil
	}
	var pending []*item // claims past the last entry object
	for it := range scan(ctx, store, scanOptions{conc: opts.Concurrency, deep: opts.Deep, check: keys.check}) {
		switch {
		case it.listErr != nil:
			return v.rep, it.listErr
		case it.note != nil:
			v.noteFinding(it.note)
			continue
		case isStorageErr(it.err):
			return v.rep, fmt.Errorf("verify audit log: %w", it.err)
		case it.claim:
			pending = append(pending, it)
			continue
		}
		if it.fromSegment {
			v.rep.FromSegments++
		}
		if v.entry(it) {
			if err := visit(it); err != nil {
				return v.rep, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return v.rep, fmt.Errorf("verify audit log: %w", err)
	}
	if err := v.pending(pending, visit); err != nil {
		return v.rep, err
	}
	if err := v.finishBurns(ctx, store, keys); err != nil {
		return v.rep, err
	}
	return v.finish(ctx, store)
}

// pending checks the claims past the last entry object: all but the last
// are missing entries; the last may be a head a stopped writer left.
func (v *verifier) pending(pending []*item, visit func(*item) error) error {
	for i, it := range pending {
		if i < len(pending)-1 && it.nameOK && v.burns[it.seq] == nil {
			v.add(ErrMissing, it.seq, entryKeyOrClaim(it), "its claim %s is written but the entry object is not, and later entries follow", it.key)
		} else if it.err == nil && it.nameOK {
			v.rep.Pending++
		}
		if v.entry(it) {
			if err := visit(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// entryKeyOrClaim names the entry object of a parsed claim, else the claim.
func entryKeyOrClaim(it *item) string {
	if it.p != nil && validHash(it.p.entry.Hash) {
		return EntryKey(it.seq, it.p.entry.Hash)
	}
	return it.key
}

// verifier walks the chain in key order.
type verifier struct {
	rep *Report
	max int
	// next is the sequence number expected next; prevSeq and prevKey
	// the last object's; prevHash and goodSeq the hash and seq of the last
	// entry, burned seqs left out; linkKnown is false when they are
	// unknown (a gap or a bad entry): the chain link is then not checked.
	next      uint64
	prevSeq   uint64
	prevKey   string
	prevHash  string
	goodSeq   uint64
	linkKnown bool
	// burns are the burned seqs, from burn records signed by a trusted
	// key.
	burns map[uint64]*BurnedSeq
	// shorts holds the short hash of each sequence number seen, to tell a
	// replay from a reorder.
	shorts []uint64
	// missingFrom is the first sequence number of the first gap, to name
	// the claim that remains.
	gapSeq uint64
}

// entry checks one object against its name and the chain, and reports
// whether the entry verified (no problem found at it).
func (v *verifier) entry(it *item) bool {
	if !it.nameOK {
		v.add(ErrMalformed, 0, it.key, "not an audit entry's name (want %s<17 digits>/<20 digits>-<16 hex>.json, in the shard of its number)", Dir)
		return false
	}
	if it.seq == v.prevSeq {
		v.add(ErrForked, it.seq, it.key, "two objects hold entry %d: %s and %s", it.seq, v.prevKey, it.key)
		return false
	}
	if it.seq > v.next {
		v.gap(v.next, it.seq-1, it.key)
	}
	v.prevSeq, v.prevKey, v.next = it.seq, it.key, it.seq+1
	if b := v.burns[it.seq]; b != nil {
		v.burnedObject(it, b)
		return false
	}
	v.rep.Entries++
	if it.err != nil {
		v.add(sentinelOf(it.err, ErrMalformed), it.seq, it.key, "%s", trimSentinel(it.err))
		v.linkKnown = false
		return false
	}
	e := it.p.entry
	prevHash, goodSeq, known := v.prevHash, v.goodSeq, v.linkKnown
	v.prevHash, v.goodSeq, v.linkKnown = e.Hash, it.seq, true
	v.note(it.seq, e)
	v.named(it.seq, it.key, e.Burned)
	switch {
	case e.Seq != it.seq:
		if e.Seq < it.seq && e.Seq <= uint64(len(v.shorts)) && v.shorts[e.Seq-1] == shortBits(e.Hash) {
			v.add(ErrReplayed, it.seq, it.key, "holds a copy of entry %d (%s)", e.Seq, e.Hash)
		} else {
			v.add(ErrOutOfOrder, it.seq, it.key, "the object of entry %d holds entry %d", it.seq, e.Seq)
		}
	case it.p.hash != e.Hash:
		v.add(ErrChanged, it.seq, it.key, "content hashes to %s, the entry says %s", it.p.hash, e.Hash)
	case !it.claim && short(e.Hash) != it.short:
		v.add(ErrChanged, it.seq, it.key, "the entry's hash %s is not the one its object name records", e.Hash)
	case it.sigErr != nil:
		v.add(sentinelOf(it.sigErr, ErrBadSignature), it.seq, it.key, "%s", trimSentinel(it.sigErr))
	case !known:
		return true // nothing before it to link to (a gap or a bad entry before it)
	case e.Prev != prevHash:
		v.add(ErrOutOfOrder, it.seq, it.key, "prev %s is not the hash of entry %d (%s)", e.Prev, goodSeq, prevHash)
	case it.seq-1-uint64(len(e.Burned)) != goodSeq:
		v.add(ErrOutOfOrder, it.seq, it.key, "it names burned seqs %v, but the entry before it is %d (the seqs between are burned: %d to %d)", e.Burned, goodSeq, goodSeq+1, it.seq-1)
	default:
		return true
	}
	return false
}

// noteFinding records a finding about a segment: a problem, or a warning.
func (v *verifier) noteFinding(n *note) {
	if errors.Is(n.kind, ErrChanged) && v.burns[n.seq] != nil && strings.HasPrefix(n.key, SegmentDir) {
		// A segment's line of a burned seq is its claim's bytes.
		v.rep.Warnings = append(v.rep.Warnings, n.msg+" (the seq is burned)")
		return
	}
	if n.kind == nil {
		v.rep.Warnings = append(v.rep.Warnings, n.msg)
		return
	}
	v.add(n.kind, n.seq, n.key, "%s", n.msg)
}

// note records the entry's place in the report.
func (v *verifier) note(seq uint64, e *Entry) {
	for uint64(len(v.shorts)) < seq {
		v.shorts = append(v.shorts, 0)
	}
	v.shorts[seq-1] = shortBits(e.Hash)
	r := v.rep
	if r.First.IsZero() {
		r.First = e.Time
	}
	r.Last, r.HeadSeq, r.HeadHash = e.Time, seq, e.Hash
	if !slices.Contains(r.KeyIDs, e.Signature.KeyID) {
		r.KeyIDs = append(r.KeyIDs, e.Signature.KeyID)
	}
}

// add records a problem.
func (v *verifier) add(kind error, seq uint64, key, format string, args ...any) {
	v.rep.ProblemCount++
	if len(v.rep.Problems) >= v.max {
		return
	}
	msg := fmt.Sprintf(format, args...)
	v.rep.Problems = append(v.rep.Problems, Problem{
		Kind: kindNames[kind], Seq: seq, Key: key, Message: msg, Err: fmt.Errorf("%w: %s", kind, msg),
	})
}

// finish orders the problems, names a removed entry by its claim, and
// returns the verdict.
func (v *verifier) finish(ctx context.Context, store storage.Store) (*Report, error) {
	r := v.rep
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	if len(r.Problems) == 0 {
		return r, nil
	}
	first := &r.Problems[0]
	if v.gapSeq != 0 && first.Seq == v.gapSeq && errors.Is(first.Err, ErrMissing) {
		// The claim outlives a removed entry object: name the object.
		if data, err := getObject(ctx, store, ClaimKey(v.gapSeq)); err == nil {
			if p, err := parse(data); err == nil {
				first.Key = EntryKey(v.gapSeq, p.entry.Hash)
				first.Message += "; its claim " + ClaimKey(v.gapSeq) + " remains"
			}
		}
	}
	return r, &VerifyError{First: *first, Count: r.ProblemCount}
}

// sentinelOf returns the sentinel err wraps, or def.
func sentinelOf(err, def error) error {
	for s := range kindNames {
		if errors.Is(err, s) {
			return s
		}
	}
	return def
}

// trimSentinel is err's message without a leading "<sentinel>: ".
func trimSentinel(err error) string {
	msg := err.Error()
	for s := range kindNames {
		if p := s.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}

// shortBits is the first 16 hex digits of a hash as a number (0 when
// they are not hex).
func shortBits(hash string) uint64 {
	n, _ := strconv.ParseUint(short(hash), 16, 64)
	return n
}
