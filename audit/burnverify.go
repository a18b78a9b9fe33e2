package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/storage"
)

// BurnedSeq is a burned seq as Verify found it (docs/audit.md, "Burned
// sequence numbers"): a finding to show, never silent.
type BurnedSeq struct {
	Seq uint64 `json:"seq"`
	// Reason, Message, Actor, Time and KeyID are the first trusted burn
	// record's; Records names them all.
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
	KeyID   string    `json:"keyId"`
	Records []string  `json:"records"`
	// Object is what the seq's entry object holds; Claim what its claim
	// holds (a burned claim of an entry object stored wrong holds the
	// entry as signed: its fact is in no entry of the chain).
	Object string `json:"object"`
	Claim  string `json:"claim"`
	// NamedBy is the entry that names it burned; 0 when none does yet.
	NamedBy uint64 `json:"namedBy,omitempty"`
}

// String is one line for the report.
func (b BurnedSeq) String() string {
	named := "no entry names it yet"
	if b.NamedBy > 0 {
		named = fmt.Sprintf("entry %d names it", b.NamedBy)
	}
	return fmt.Sprintf("seq %d: %s, burned by %s with key %s at %s (%s); entry object: %s; claim: %s; %s",
		b.Seq, b.Reason, b.Actor, b.KeyID, b.Time.UTC().Format(time.RFC3339), strings.Join(b.Records, ", "), b.Object, b.Claim, named)
}

// listBurns reads the burn records and keeps those signed by a key of
// keys; any other object under BurnDir is a problem.
func listBurns(ctx context.Context, store storage.Store, keys *keyring) (map[uint64]*BurnedSeq, []*item, error) {
	burns := map[uint64]*BurnedSeq{}
	var notes []*item
	refuse := func(kind error, seq uint64, key string, err error) {
		notes = append(notes, noteItem(kind, seq, key, "burn record %s refused: %s", key, trimSentinel(err)))
	}
	// A record that is not one as a writer signed it (stored wrong, cut
	// short) covers nothing: a warning. One intact but signed by a key
	// that is not trusted is a forgery: a problem.
	unreadable := func(seq uint64, key string, err error) {
		notes = append(notes, noteItem(nil, seq, key, "burn record %s is unreadable and covers nothing: %s", key, trimSentinel(err)))
	}
	for info, err := range store.List(ctx, BurnDir) {
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", BurnDir, err)
		}
		seq, sh, ok := parseBurnKey(info.Key)
		if !ok {
			notes = append(notes, noteItem(ErrMalformed, 0, info.Key, "not a burn record's name (want %s<20 digits>-<16 hex>.json)", BurnDir))
			continue
		}
		data, err := getObject(ctx, store, info.Key)
		switch {
		case errors.Is(err, ErrMalformed):
			unreadable(seq, info.Key, err)
			continue
		case err != nil:
			return nil, nil, fmt.Errorf("read %s: %w", info.Key, err)
		}
		b, signed, err := parseBurn(data)
		switch {
		case err != nil:
			unreadable(seq, info.Key, err)
			continue
		case b.Seq != seq || short(b.Hash) != sh:
			refuse(ErrOutOfOrder, seq, info.Key, fmt.Errorf("it burns seq %d with hash %s, its name says otherwise", b.Seq, b.Hash))
			continue
		}
		key, err := keys.lookup(ctx, b.Signature.KeyID)
		switch {
		case errors.Is(err, ErrUnknownKey):
			refuse(ErrUnknownKey, seq, info.Key, err)
			continue
		case err != nil:
			return nil, nil, err
		case key.Verify(signed, b.Signature.Value) != nil:
			unreadable(seq, info.Key, fmt.Errorf("its signature does not verify under key %s", b.Signature.KeyID))
			continue
		}
		if s := burns[seq]; s != nil {
			s.Records = append(s.Records, info.Key)
			continue
		}
		burns[seq] = &BurnedSeq{Seq: seq, Reason: b.Reason, Message: b.Message, Actor: b.Actor, Time: b.Time,
			KeyID: b.Signature.KeyID, Records: []string{info.Key}, Object: "none"}
	}
	return burns, notes, nil
}

// gap handles the seqs from..to that have no entry object (the next
// object is key): burned ones are accepted, the others are missing.
func (v *verifier) gap(from, to uint64, key string) {
	var burned []uint64
	for s := range v.burns {
		if s >= from && s <= to {
			burned = append(burned, s)
		}
	}
	slices.Sort(burned)
	missing := func(a, b uint64) {
		if a > b {
			return
		}
		what := fmt.Sprintf("entry %d", a)
		if b > a {
			what = fmt.Sprintf("entries %d to %d", a, b)
		}
		if v.gapSeq == 0 {
			v.gapSeq = a
		}
		v.add(ErrMissing, a, EntryPrefix(a)+"*"+entrySuffix, "%s removed: the next object is %s", what, key)
		v.linkKnown = false
	}
	next := from
	for _, s := range burned {
		missing(next, s-1)
		next = s + 1
	}
	missing(next, to)
}

// burnedObject notes what the object of a burned seq holds: a valid entry
// there is a problem (the burn took it out of the chain), anything else
// is what the burn record said.
func (v *verifier) burnedObject(it *item, b *BurnedSeq) {
	var what string
	switch {
	case it.err != nil:
		what = trimSentinel(it.err)
	case it.p.entry.Seq != it.seq:
		what = fmt.Sprintf("holds entry %d", it.p.entry.Seq)
	case it.p.hash != it.p.entry.Hash:
		what = fmt.Sprintf("content hashes to %s, the entry says %s", it.p.hash, it.p.entry.Hash)
	case !it.claim && short(it.p.entry.Hash) != it.short:
		what = fmt.Sprintf("the entry's hash %s is not the one its object name records", it.p.entry.Hash)
	case it.sigErr != nil:
		what = trimSentinel(it.sigErr)
	default:
		what = fmt.Sprintf("a valid entry (%s %s, %s)", it.p.entry.Kind, it.p.entry.Subject, it.p.entry.Hash)
		if !it.claim {
			v.add(ErrBurnedValid, it.seq, it.key, "seq %d is burned (%s), but its entry object holds a valid entry signed by a trusted key: the burn took it out of the chain", it.seq, strings.Join(b.Records, ", "))
		}
	}
	if it.claim {
		b.Claim = what
		return
	}
	b.Object = it.key + ": " + what
}

// named checks the seqs entry seq names burned: each needs a trusted burn
// record.
func (v *verifier) named(seq uint64, key string, burned []uint64) {
	for _, s := range burned {
		b := v.burns[s]
		if b == nil {
			v.add(ErrMissing, s, key, "entry %d names seq %d burned, but no burn record signed by a trusted key covers it", seq, s)
			continue
		}
		b.NamedBy = seq
	}
}

// finishBurns describes each burned seq's claim and lists them in the
// report, with a warning for a burn no entry names.
func (v *verifier) finishBurns(ctx context.Context, store storage.Store, keys *keyring) error {
	for _, s := range slices.Sorted(maps.Keys(v.burns)) {
		b := v.burns[s]
		if b.Claim == "" {
			data, err := getObject(ctx, store, ClaimKey(s))
			switch {
			case errors.Is(err, storage.ErrNotFound):
				b.Claim = "none"
			case errors.Is(err, ErrMalformed):
				b.Claim = trimSentinel(err)
			case err != nil:
				return fmt.Errorf("verify audit log: read %s: %w", ClaimKey(s), err)
			default:
				var valid bool
				b.Claim, valid = describeClaim(ctx, data, s, keys)
				if valid && b.Reason != BurnObjectStoredWrong {
					v.add(ErrBurnedValid, s, ClaimKey(s), "seq %d is burned (%s: %s), but its claim holds a valid entry signed by a trusted key: the burn took it out of the chain", s, b.Reason, strings.Join(b.Records, ", "))
				}
			}
		}
		if b.NamedBy == 0 {
			v.rep.Warnings = append(v.rep.Warnings, fmt.Sprintf("seq %d is burned (%s) but no entry names it: the writer that burned it has not appended the next entry yet, or the burn was not needed", s, strings.Join(b.Records, ", ")))
		}
		v.rep.Burned = append(v.rep.Burned, *b)
	}
	return nil
}

// describeClaim says what a burned seq's claim holds, and whether it is a
// valid entry signed by a trusted key.
func describeClaim(ctx context.Context, data []byte, seq uint64, keys *keyring) (string, bool) {
	p, err := parse(data)
	switch {
	case err != nil:
		return trimSentinel(err), false
	case p.hash != p.entry.Hash:
		return fmt.Sprintf("content hashes to %s, the entry says %s", p.hash, p.entry.Hash), false
	case p.entry.Seq != seq:
		return fmt.Sprintf("holds entry %d", p.entry.Seq), false
	}
	it := &item{p: p}
	keys.check(ctx, it)
	switch {
	case it.err != nil:
		return "not checked: " + it.err.Error(), false
	case it.sigErr != nil:
		return trimSentinel(it.sigErr), false
	}
	e := p.entry
	return fmt.Sprintf("entry %d as signed by key %s (%s %s at %s, %s): outside the chain (its writer appends the record again as a later entry)", seq, e.Signature.KeyID, e.Kind, e.Subject, e.Time.UTC().Format(time.RFC3339), e.Hash), true
}
