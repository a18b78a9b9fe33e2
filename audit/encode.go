package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/canonical"
)

const (
	// HashPrefix starts every entry hash: "sha256:" and 64 lower-case hex.
	HashPrefix = "sha256:"
	// SignatureAlg is the only signature algorithm entries use.
	SignatureAlg = "ed25519"
	// MaxEntrySize bounds an entry object; larger ones are malformed.
	MaxEntrySize = 64 << 10
)

// Fields of the entry object. A top-level key that matches one of them
// only without regard to case is refused: encoding/json would read it into
// the field while the hash covers it as another key.
var entryFields = []string{"format", "seq", "time", "actor", "kind", "subject", "details", "prev", "burned", "hash", "signature"}

// signedBytes returns what an entry's hash and signature cover: the
// canonical JSON of the entry object without "hash" and "signature".
func signedBytes(obj map[string]any) ([]byte, error) {
	m := make(map[string]any, len(obj))
	for k, v := range obj {
		if k != "hash" && k != "signature" {
			m[k] = v
		}
	}
	return canonical.Encode(m)
}

// HashOf returns "sha256:<hex>" of b.
func HashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return HashPrefix + hex.EncodeToString(sum[:])
}

// Sign fills e.Hash and e.Signature, signing with signer, and returns the
// entry object's bytes (canonical JSON). Append uses it; it is exported for
// tools and tests that build entries themselves.
func Sign(e *Entry, signer crypto.SigningKey) ([]byte, error) {
	return encode(e, signer, signer.Public())
}

// encode is Sign with signer's public half pub.
func encode(e *Entry, signer crypto.SigningKey, pub crypto.VerifyKey) ([]byte, error) {
	e.Hash, e.Signature = "", Signature{}
	if len(e.Details) > 0 { // as it will read back
		d, err := canonical.JSON(e.Details)
		if err != nil {
			return nil, fmt.Errorf("encode audit entry details: %w", err)
		}
		e.Details = d
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	v, err := canonical.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	obj := v.(map[string]any) // an Entry marshals to an object
	signed, err := signedBytes(obj)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	e.Hash = HashOf(signed)
	e.Signature = Signature{Alg: SignatureAlg, KeyID: pub.KeyID(), Value: signer.Sign(signed)}
	full, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	return canonical.JSON(full)
}

// parsed is an entry read from an object, with what its checks need.
type parsed struct {
	entry *Entry
	// signed are the bytes the hash and signature cover.
	signed []byte
	// hash is the hash of signed, which an intact entry carries.
	hash string
}

// Parse reads an entry object and checks that it is well formed and that
// its content matches its hash. It does not check the signature or the
// chain: see Verify. Errors wrap ErrMalformed or ErrChanged.
func Parse(data []byte) (*Entry, error) {
	p, err := parse(data)
	if err != nil {
		return nil, err
	}
	if p.hash != p.entry.Hash {
		return p.entry, fmt.Errorf("%w: content hashes to %s, the entry says %s", ErrChanged, p.hash, p.entry.Hash)
	}
	return p.entry, nil
}

// parse reads an entry object and checks its form, not its hash.
func parse(data []byte) (*parsed, error) {
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxEntrySize)
	}
	v, err := canonical.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	for k := range obj {
		for _, f := range entryFields {
			if k != f && strings.EqualFold(k, f) {
				return nil, fmt.Errorf("%w: field %q is spelled %q", ErrMalformed, f, k)
			}
		}
	}
	e := &Entry{}
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	signed, err := signedBytes(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &parsed{entry: e, signed: signed, hash: HashOf(signed)}, nil
}

// check validates the fields of a decoded entry.
func (e *Entry) check() error {
	switch {
	case e.Format != FormatV1:
		return fmt.Errorf("format %q, want %q", abbreviate(e.Format), FormatV1)
	case e.Seq == 0:
		return fmt.Errorf("seq is 0 or missing")
	case e.Time.IsZero():
		return fmt.Errorf("time is missing")
	case e.Actor == "":
		return fmt.Errorf("actor is missing")
	case e.Kind == "":
		return fmt.Errorf("kind is missing")
	case !validHash(e.Hash):
		return fmt.Errorf("hash %q is not sha256:<64 hex>", abbreviate(e.Hash))
	case e.Seq == 1 && e.Prev != "":
		return fmt.Errorf("entry 1 has a prev")
	case !burnedRun(e.Seq, e.Burned):
		return fmt.Errorf("burned %v is not a run of seqs ending at %d", e.Burned[:min(len(e.Burned), 10)], e.Seq-1)
	case e.Seq > 1 && uint64(len(e.Burned)) == e.Seq-1 && e.Prev != "":
		return fmt.Errorf("entry %d follows burned seqs only and has a prev", e.Seq)
	case e.Seq > 1 && uint64(len(e.Burned)) < e.Seq-1 && !validHash(e.Prev):
		return fmt.Errorf("prev %q is not sha256:<64 hex>", abbreviate(e.Prev))
	case e.Signature.Alg != SignatureAlg:
		return fmt.Errorf("signature alg %q, want %q", abbreviate(e.Signature.Alg), SignatureAlg)
	case e.Signature.KeyID == "":
		return fmt.Errorf("signature keyId is missing")
	case len(e.Signature.Value) != 64:
		return fmt.Errorf("signature value is %d bytes, want 64", len(e.Signature.Value))
	}
	return nil
}

// burnedRun reports whether burned is empty or the consecutive seqs
// ending at seq-1.
func burnedRun(seq uint64, burned []uint64) bool {
	if uint64(len(burned)) >= seq {
		return false
	}
	for i, b := range burned {
		if b != seq-uint64(len(burned)-i) {
			return false
		}
	}
	return true
}

// validHash reports whether h is "sha256:" and 64 lower-case hex digits.
func validHash(h string) bool {
	hexPart, ok := strings.CutPrefix(h, HashPrefix)
	if !ok || len(hexPart) != 64 {
		return false
	}
	for _, c := range hexPart {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// abbreviate shortens a value read from an object for messages.
func abbreviate(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}

// normalTime is the time an entry records: UTC, to the microsecond (what
// every JSON reader keeps).
func normalTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
