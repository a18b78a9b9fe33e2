package seal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// FormatSealV1 is the format of seal.json documents this package writes and
// reads. See docs/seal.md.
const FormatSealV1 = "safekeep.dev/seal/v1"

// SignatureAlg is the only signature algorithm of FormatSealV1.
const SignatureAlg = "ed25519"

// maxSealSize bounds what the parsers read: a seal lists each object in
// about 150 bytes, so this allows hundreds of thousands of objects.
const maxSealSize = 64 << 20

// Document is the signed content of seal.json: non-sensitive facts only
// (names, times, counts, ciphertext digests and sizes, key fingerprints).
// Plaintext digests live in the encrypted manifest, never here.
type Document struct {
	// Format is FormatSealV1.
	Format string `json:"format"`
	// Schedule and Backup name the sealed Velero backup; they must match
	// the seal's location in the bucket.
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	// Cluster identifies the source cluster; may be empty.
	Cluster string `json:"cluster,omitempty"`
	// Target is the bucket and prefix the seal was written to, so that a
	// folder copied to another target does not verify there (see
	// Binding); nil in seals made before it was recorded.
	Target *Place `json:"target,omitempty"`
	// SealedAt is when the seal was written (UTC, seconds).
	SealedAt time.Time `json:"sealedAt"`
	// Velero holds times and counts from velero-backup.json.
	Velero *VeleroInfo `json:"velero,omitempty"`
	// Objects are the encrypted objects, sorted by name, with the size and
	// SHA-256 of their ciphertext as stored offsite.
	Objects []Object `json:"objects"`
	// Manifest is the size and SHA-256 of manifest.json.age.
	Manifest Blob `json:"manifest"`
	// Recipients are the fingerprints (crypto.Fingerprint) of the age
	// recipients every object and the manifest are encrypted to, sorted.
	Recipients []string `json:"recipients"`
	// Lock is the object-lock retention every object of the seal carries at
	// least; nil when the target asks for none.
	Lock *LockInfo `json:"lock,omitempty"`
	// VolumeBlobs are the sealed kopia blobs the backup's volumes need
	// (offsite keys under volumes/, shared with other seals), with the size
	// and SHA-256 of their ciphertext; sorted by key. See docs/volumes.md.
	VolumeBlobs []Object `json:"volumeBlobs,omitempty"`
}

// Object is one object's size and SHA-256 (lower-case hex). In a seal these
// describe ciphertext; in a manifest, plaintext.
type Object struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Blob is the size and SHA-256 (lower-case hex) of a file.
type Blob struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// VeleroInfo is what a seal copies from velero-backup.json: times and
// counts, never namespaces, resource names or other contents.
type VeleroInfo struct {
	Phase               string     `json:"phase"`
	FormatVersion       string     `json:"formatVersion,omitempty"`
	StartTimestamp      *time.Time `json:"startTimestamp,omitempty"`
	CompletionTimestamp *time.Time `json:"completionTimestamp,omitempty"`
	Expiration          *time.Time `json:"expiration,omitempty"`
	TotalItems          int        `json:"totalItems,omitempty"`
	ItemsBackedUp       int        `json:"itemsBackedUp,omitempty"`
	Warnings            int        `json:"warnings,omitempty"`
	Errors              int        `json:"errors,omitempty"`
}

// LockInfo is an object-lock retention.
type LockInfo struct {
	Mode        storage.LockMode `json:"mode"`
	RetainUntil time.Time        `json:"retainUntil"`
}

// Signature signs the canonical JSON (see docs/seal.md) of a Document.
type Signature struct {
	Alg   string `json:"alg"`
	KeyID string `json:"keyId"`
	// Value is the raw signature; JSON carries it as standard base64.
	Value []byte `json:"value"`
}

// Seal is a parsed seal.json: the document, its signature, and the exact
// bytes stored. A Seal from ParseSeal is well formed; whether its signature
// verifies is up to VerifySignature.
type Seal struct {
	Document
	Signature Signature
	// Raw is seal.json as stored.
	Raw []byte
	// signed is the canonical encoding of the document, what the signature covers.
	signed []byte
	// digest is Digest's value, fixed at parse time.
	digest string
	// hidden is set when seal.json was read from a version under a delete
	// marker (see hiddenSeal).
	hidden *Hidden
}

// Digest is "sha256:" and the hex SHA-256 of the seal's canonical bytes
// (canonicalDigest); it names this exact seal in status and audit records.
// Re-encoding seal.json (white space, key order, escapes, base64 form)
// does not change it; a change of content does.
func (s *Seal) Digest() string { return s.digest }

// StoredDigest is "sha256:" and the hex SHA-256 of seal.json exactly as
// stored: what versions before the canonical digest recorded as Digest.
func (s *Seal) StoredDigest() string { return sha256Name(s.Raw) }

// canonicalDigest hashes the canonical JSON of the envelope as parsed:
// {"seal": <canonical document>, "signature": {"alg", "keyId", "value"
// in standard base64}}.
func canonicalDigest(signed []byte, sig Signature) (string, error) {
	env, err := json.Marshal(sealEnvelope{Seal: signed, Signature: &sig})
	if err != nil {
		return "", err
	}
	canon, err := canonicalJSON(env)
	if err != nil {
		return "", err
	}
	return sha256Name(canon), nil
}

func sha256Name(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CiphertextBytes is the total size of the encrypted objects (not counting
// the manifest).
func (s *Seal) CiphertextBytes() int64 {
	var n int64
	for _, o := range s.Objects {
		n += o.Size
	}
	return n
}

// VerifySignature checks the signature with key: the seal's key id must be
// key's and the signature must verify. Errors wrap ErrBadSeal.
func (s *Seal) VerifySignature(key crypto.VerifyKey) error {
	if s.Signature.KeyID != key.KeyID() {
		return fmt.Errorf("%w: signed by key %s, not %s", ErrBadSeal, s.Signature.KeyID, key.KeyID())
	}
	if err := key.Verify(s.signed, s.Signature.Value); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSeal, err)
	}
	return nil
}

type sealEnvelope struct {
	Seal      json.RawMessage `json:"seal"`
	Signature *Signature      `json:"signature"`
}

// MarshalSeal signs doc with key and returns the seal.json bytes. doc must
// be valid (see ParseSeal); it is checked first.
func MarshalSeal(doc Document, key crypto.SigningKey) ([]byte, error) {
	if err := doc.validate(); err != nil {
		return nil, err
	}
	plain, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode seal: %w", err)
	}
	signed, err := canonicalJSON(plain)
	if err != nil {
		return nil, fmt.Errorf("encode seal: %w", err)
	}
	env := sealEnvelope{
		Seal: signed,
		Signature: &Signature{
			Alg:   SignatureAlg,
			KeyID: key.Public().KeyID(),
			Value: key.Sign(signed),
		},
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode seal: %w", err)
	}
	return append(out, '\n'), nil
}

// ParseSeal parses seal.json strictly: only "seal" and "signature" at the
// top level (anything else would be unsigned), a known format version, every
// required field present and well formed. Fields inside "seal" that this
// version does not know are allowed: the signature covers them. It does not
// verify the signature. Errors wrap ErrBadSeal.
func ParseSeal(data []byte) (*Seal, error) {
	s, err := parseSeal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSeal, err)
	}
	return s, nil
}

func parseSeal(data []byte) (*Seal, error) {
	if len(data) > maxSealSize {
		return nil, fmt.Errorf("seal is larger than %d bytes", maxSealSize)
	}
	var env sealEnvelope
	if err := decodeStrict(data, &env); err != nil {
		return nil, err
	}
	if env.Seal == nil || bytes.Equal(env.Seal, []byte("null")) {
		return nil, errors.New(`missing "seal"`)
	}
	if env.Signature == nil {
		return nil, errors.New(`missing "signature"`)
	}
	if err := env.Signature.validate(); err != nil {
		return nil, err
	}
	signed, err := canonicalJSON(env.Seal)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if err := checkFormat(signed, FormatSealV1); err != nil {
		return nil, err
	}
	var doc Document
	if err := json.Unmarshal(signed, &doc); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if err := doc.validate(); err != nil {
		return nil, err
	}
	digest, err := canonicalDigest(signed, *env.Signature)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return &Seal{Document: doc, Signature: *env.Signature, Raw: data, signed: signed, digest: digest}, nil
}

// decodeStrict decodes one JSON value with no unknown fields and nothing after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("not valid JSON: data after the value")
	}
	return nil
}

// checkFormat reads only the "format" field, so an unknown version gets that
// error rather than one about fields the version does not have.
func checkFormat(data []byte, want string) error {
	var head struct {
		Format *string `json:"format"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case head.Format == nil:
		return errors.New(`missing "format"`)
	case *head.Format != want:
		return fmt.Errorf("unknown format %q (this version reads %q)", *head.Format, want)
	}
	return nil
}

func (sig *Signature) validate() error {
	switch {
	case sig.Alg != SignatureAlg:
		return fmt.Errorf("signature: unknown algorithm %q (want %q)", sig.Alg, SignatureAlg)
	case !isFingerprint(sig.KeyID):
		return fmt.Errorf("signature: bad keyId %q", sig.KeyID)
	case len(sig.Value) != 64:
		return fmt.Errorf("signature: value is %d bytes, want 64", len(sig.Value))
	}
	return nil
}

func (d *Document) validate() error {
	if d.Format != FormatSealV1 {
		return fmt.Errorf("unknown format %q (this version reads %q)", d.Format, FormatSealV1)
	}
	if err := ValidateName("schedule", d.Schedule); err != nil {
		return err
	}
	if err := ValidateName("backup", d.Backup); err != nil {
		return err
	}
	if d.SealedAt.IsZero() {
		return errors.New(`missing "sealedAt"`)
	}
	if d.Velero != nil && d.Velero.Phase == "" {
		return errors.New(`velero: missing "phase"`)
	}
	if err := validateObjects(d.Objects); err != nil {
		return err
	}
	if err := d.Manifest.validate("manifest"); err != nil {
		return err
	}
	if err := validateVolumeObjects(d.VolumeBlobs); err != nil {
		return err
	}
	if len(d.Recipients) == 0 {
		return errors.New(`missing "recipients"`)
	}
	for i, r := range d.Recipients {
		if !isFingerprint(r) {
			return fmt.Errorf("recipients: bad fingerprint %q", r)
		}
		if i > 0 && d.Recipients[i-1] >= r {
			return errors.New("recipients: not sorted and unique")
		}
	}
	if d.Target != nil && d.Target.Bucket == "" {
		return errors.New(`target: missing "bucket"`)
	}
	return d.Lock.validate()
}

// validate checks a lock, when there is one.
func (l *LockInfo) validate() error {
	if l == nil {
		return nil
	}
	if l.Mode != storage.LockGovernance && l.Mode != storage.LockCompliance {
		return fmt.Errorf("lock: unknown mode %q", l.Mode)
	}
	if l.RetainUntil.IsZero() {
		return errors.New(`lock: missing "retainUntil"`)
	}
	return nil
}

// validateObjects checks a non-empty, name-sorted list without duplicates.
func validateObjects(objs []Object) error {
	if len(objs) == 0 {
		return errors.New(`missing "objects"`)
	}
	for i, o := range objs {
		if err := ValidateObjectName(o.Name); err != nil {
			return fmt.Errorf("objects: %w", err)
		}
		if i > 0 && objs[i-1].Name >= o.Name {
			return fmt.Errorf("objects: not sorted and unique at %q", o.Name)
		}
		if err := (Blob{Size: o.Size, SHA256: o.SHA256}).validate(o.Name); err != nil {
			return fmt.Errorf("objects: %w", err)
		}
	}
	return nil
}

func (b Blob) validate(what string) error {
	if b.Size < 0 {
		return fmt.Errorf("%s: negative size", what)
	}
	if !isHexDigest(b.SHA256) {
		return fmt.Errorf("%s: bad sha256 %q", what, b.SHA256)
	}
	return nil
}

func isHexDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	return isLowerHex(s)
}

// isFingerprint matches crypto.Fingerprint: "sha256:" and 32 hex digits.
func isFingerprint(s string) bool {
	h, ok := strings.CutPrefix(s, "sha256:")
	return ok && len(h) == 32 && isLowerHex(h)
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
