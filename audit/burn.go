package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/canonical"
	"github.com/safekeep-dev/safekeep/storage"
)

// Burned sequence numbers (docs/audit.md, "Burned sequence numbers"): a
// seq whose claim or entry object is stored wrong and cannot be removed
// (object lock) is burned by the next writer: it writes a signed burn
// record for it, and the next entry chains onto the last good entry and
// names the burned seqs (Entry.Burned). Verify accepts a gap or a bad
// object only where a burn record signed by a trusted key covers it, and
// names every burned seq.
const (
	// BurnDir holds burn records: <seq, 20 digits>-<16 hex of the
	// record's hash>.json. It sorts after the entry shards and before
	// SegmentDir.
	BurnDir = Dir + "burned/"
	// BurnFormat is the format of every burn record.
	BurnFormat = "safekeep.dev/audit-burn/v1"

	// BurnObjectStoredWrong: the seq's claim holds a trusted entry, its
	// entry object other bytes that object lock keeps.
	BurnObjectStoredWrong = "entry-object-stored-wrong"
	// BurnClaimStoredWrong: the writer's own claim was stored wrong (the
	// check after its PUT) and object lock keeps it.
	BurnClaimStoredWrong = "claim-stored-wrong"
	// BurnClaimUnreadable: the seq's claim is not a well-formed entry of
	// that seq (malformed, its content not its hash, a bad signature
	// under a trusted key id), and no entry object of the seq is one. A
	// well-formed claim signed by an unknown key is not burned: it is
	// refused (ErrUntrustedClaim), as before.
	BurnClaimUnreadable = "claim-unreadable"

	// maxBurnBack bounds the broken claims a writer burns at once, and
	// maxBurned the seqs burned in a row (one entry names at most that
	// many): a server that keeps storing objects wrong stops the log
	// instead of burning it away.
	maxBurnBack = 16
	maxBurned   = 64
)

// ErrBurnedValid: a burned seq's entry object holds a valid entry, signed
// by a trusted key: the burn took it out of the chain.
var ErrBurnedValid = errors.New("burned entry is valid")

// Burn is a burn record: a writer's signed statement that seq is out of
// the chain, and why. Hash and Signature are computed as an entry's (over
// the canonical JSON without them).
type Burn struct {
	Format string    `json:"format"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	// Reason is BurnObjectStoredWrong or BurnClaimUnreadable; Message
	// the error the writer met; Key the object found wrong.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Key     string `json:"key"`
	// Claim is the hash of the entry the claim holds
	// (BurnObjectStoredWrong).
	Claim string `json:"claim,omitempty"`
	// Signer is the id of the key that signs the record, inside what the
	// hash covers: a record whose signature names another key is
	// malformed (stored wrong), not a forgery.
	Signer string `json:"signer"`

	Hash      string    `json:"hash,omitempty"`
	Signature Signature `json:"signature,omitzero"`
}

var burnFields = []string{"format", "seq", "time", "actor", "reason", "message", "key", "claim", "signer", "hash", "signature"}

// BurnKey is the object name of a burn record of seq with hash.
func BurnKey(seq uint64, hash string) string {
	return fmt.Sprintf("%s%0*d-%s%s", BurnDir, seqDigits, seq, short(hash), entrySuffix)
}

// parseBurnKey reads seq and the short hash from a burn record's name.
func parseBurnKey(key string) (uint64, string, bool) {
	rest, ok := strings.CutPrefix(key, BurnDir)
	if !ok {
		return 0, "", false
	}
	rest, ok = strings.CutSuffix(rest, entrySuffix)
	if !ok || len(rest) != seqDigits+1+shortHash || rest[seqDigits] != '-' || !allDigits(rest[:seqDigits]) {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(rest[:seqDigits], 10, 64)
	return seq, rest[seqDigits+1:], err == nil && seq > 0
}

// signBurn fills b's hash and signature and returns its bytes.
func signBurn(b *Burn, signer crypto.SigningKey, pub crypto.VerifyKey) ([]byte, error) {
	b.Format, b.Signer, b.Hash, b.Signature = BurnFormat, pub.KeyID(), "", Signature{}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode burn record: %w", err)
	}
	signed, err := canonical.JSON(raw)
	if err != nil {
		return nil, fmt.Errorf("encode burn record: %w", err)
	}
	b.Hash = HashOf(signed)
	b.Signature = Signature{Alg: SignatureAlg, KeyID: pub.KeyID(), Value: signer.Sign(signed)}
	full, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode burn record: %w", err)
	}
	return canonical.JSON(full)
}

// SignBurn fills b's format, hash and signature, signing with signer, and
// returns the record's bytes; for tools and tests (writers burn with
// Append).
func SignBurn(b *Burn, signer crypto.SigningKey) ([]byte, error) {
	b.Time = normalTime(b.Time)
	return signBurn(b, signer, signer.Public())
}

// parseBurn reads a burn record and checks its form and hash; it returns
// the record and the bytes its signature covers.
func parseBurn(data []byte) (*Burn, []byte, error) {
	if len(data) > MaxEntrySize {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxEntrySize)
	}
	v, err := canonical.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	for k := range obj {
		for _, f := range burnFields {
			if k != f && strings.EqualFold(k, f) {
				return nil, nil, fmt.Errorf("%w: field %q is spelled %q", ErrMalformed, f, k)
			}
		}
	}
	b := &Burn{}
	if err := json.Unmarshal(data, b); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case b.Format != BurnFormat:
		return nil, nil, fmt.Errorf("%w: format %q, want %q", ErrMalformed, abbreviate(b.Format), BurnFormat)
	case b.Seq == 0 || b.Time.IsZero() || b.Actor == "" || b.Reason == "":
		return nil, nil, fmt.Errorf("%w: seq, time, actor or reason missing", ErrMalformed)
	case !validHash(b.Hash) || b.Signature.Alg != SignatureAlg || len(b.Signature.Value) != 64:
		return nil, nil, fmt.Errorf("%w: no valid hash or ed25519 signature", ErrMalformed)
	case b.Signature.KeyID != b.Signer:
		return nil, nil, fmt.Errorf("%w: signed by key %s, the record says %s", ErrMalformed, abbreviate(b.Signature.KeyID), abbreviate(b.Signer))
	}
	signed, err := signedBytes(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h := HashOf(signed); h != b.Hash {
		return nil, nil, fmt.Errorf("%w: content hashes to %s, the record says %s", ErrChanged, abbreviate(h), b.Hash)
	}
	return b, signed, nil
}

// writeBurn burns seq: it creates a burn record signed by l's key,
// object-locked as entries are. found is the error met at key.
func (l *Log) writeBurn(ctx context.Context, seq uint64, reason, key, claim string, found error) error {
	if len(l.burned) >= maxBurned {
		return fmt.Errorf("burn audit seq %d: %d seqs are burned in a row already, the server keeps storing objects wrong: %w", seq, len(l.burned), found)
	}
	actor := l.actor
	if actor == "" {
		actor = "safekeep"
	}
	for try := 1; ; try++ {
		b := &Burn{Seq: seq, Time: normalTime(l.opts.Now()), Actor: actor, Reason: reason,
			Message: abbreviateMsg(found.Error()), Key: key, Claim: claim}
		data, err := signBurn(b, l.signer, l.pub)
		if err != nil {
			return err
		}
		bk := BurnKey(seq, b.Hash)
		err = l.put(ctx, bk, data, b.Time, entryContentType)
		if errors.Is(err, storage.ErrExists) {
			got, gerr := getObject(ctx, l.store, bk)
			if gerr == nil && bytes.Equal(got, data) {
				err = nil // this writer's earlier try
			}
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, storage.ErrStoredWrong) && try < 2:
			// Stored wrong too: it covers nothing (Verify warns of it);
			// a new record, of another time, is another object.
			continue
		}
		return fmt.Errorf("burn audit seq %d: write %s: %w", seq, bk, err)
	}
}

// abbreviateMsg bounds a message kept in a burn record.
func abbreviateMsg(s string) string {
	const limit = 1000
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// brokenClaim reports whether err, from readClaim, says the claim's bytes
// are not an entry as any writer signed it (malformed, changed, a bad
// signature, another seq): stored wrong, or planted. A well-formed claim
// signed by a key the writer does not know is not broken: another writer
// may trust that key, so it is refused (ErrUntrustedClaim), never burned.
func brokenClaim(err error) bool {
	return errors.Is(err, ErrMalformed) || errors.Is(err, ErrChanged) || errors.Is(err, ErrBadSignature) || errors.Is(err, ErrOutOfOrder)
}

// burnedBefore reports whether a burn record of seq signed by a trusted
// key is there (a writer that burned it stopped before the next entry).
func (l *Log) burnedBefore(ctx context.Context, seq uint64) (bool, error) {
	for info, err := range l.store.List(ctx, fmt.Sprintf("%s%0*d-", BurnDir, seqDigits, seq)) {
		if err != nil {
			return false, fmt.Errorf("find audit head: %w", err)
		}
		data, err := getObject(ctx, l.store, info.Key)
		switch {
		case errors.Is(err, ErrMalformed), errors.Is(err, storage.ErrNotFound):
			continue
		case err != nil:
			return false, fmt.Errorf("find audit head: %w", err)
		}
		b, signed, err := parseBurn(data)
		if err != nil || b.Seq != seq {
			continue
		}
		for _, k := range l.trustedKeys() {
			if k.KeyID() == b.Signature.KeyID && k.Verify(signed, b.Signature.Value) == nil {
				return true, nil
			}
		}
	}
	return false, nil
}
