package crypto

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

var (
	// ErrNoRecipients is returned when a recipient list is empty.
	ErrNoRecipients = errors.New("no age recipients")
	// ErrInvalidRecipient is wrapped by every error of ParseRecipient and
	// ParseRecipients about the recipients themselves.
	ErrInvalidRecipient = errors.New("invalid age recipient")
)

// Recipient is a parsed age recipient together with the text it came from.
type Recipient struct {
	age.Recipient
	// Text is the recipient in canonical form: lower-case age1... for native
	// keys, "ssh-ed25519 AAAA..." or "ssh-rsa AAAA..." (no options, no
	// comment) for SSH keys. Equal keys have equal Text.
	Text string
}

// Fingerprint identifies the recipient without revealing anything beyond the
// public key itself; see Fingerprint. An Identity's Fingerprint equals the
// Fingerprint of its Recipient.
func (r Recipient) Fingerprint() string { return Fingerprint(r.Text) }

// postQuantum reports whether r is a hybrid (ML-KEM-768 + X25519) recipient.
func (r Recipient) postQuantum() bool {
	_, ok := r.Recipient.(*age.HybridRecipient)
	return ok
}

// recipientError says which recipient is bad and why. It never holds secret
// key material: text is empty when the input looked like a secret.
type recipientError struct{ text, reason string }

func (e *recipientError) Error() string {
	if e.text == "" {
		return "age recipient: " + e.reason
	}
	return fmt.Sprintf("age recipient %q: %s", e.text, e.reason)
}

func (e *recipientError) Is(target error) bool { return target == ErrInvalidRecipient }

// ParseRecipient parses one recipient: an X25519 key (age1...), a post-quantum
// hybrid key (age1pq1...), or an SSH public key (ssh-ed25519, ssh-rsa) in
// authorized_keys form, with or without a comment.
//
// The error wraps ErrInvalidRecipient, names the recipient (a public key,
// safe to show) and says why it is bad. Input that looks like a secret key is
// never echoed.
func ParseRecipient(s string) (Recipient, error) {
	r, err := parseRecipient(strings.TrimSpace(s))
	if err != nil {
		return Recipient{}, err
	}
	// A well-formed key can still be unusable (an RSA modulus that is even,
	// an X25519 point of low order): find out now, not when a seal runs.
	if _, err := r.Wrap(make([]byte, 16)); err != nil {
		return Recipient{}, &recipientError{text: abbreviate(r.Text), reason: "unusable key: " + err.Error()}
	}
	return r, nil
}

func parseRecipient(text string) (Recipient, error) {
	lower := strings.ToLower(text)
	switch {
	case text == "":
		return Recipient{}, &recipientError{reason: "empty"}
	case looksSecret(text):
		return Recipient{}, &recipientError{reason: "this is a secret key, not a public one: " +
			"give its recipient (age1..., or the SSH .pub line) instead, and treat the secret as exposed"}
	case strings.HasPrefix(lower, "ssh-"):
		return parseSSHRecipient(text)
	case strings.HasPrefix(lower, "age1"):
		return parseNativeRecipient(text)
	default:
		return Recipient{}, &recipientError{text: abbreviate(text),
			reason: "unknown type (want age1..., age1pq1..., ssh-ed25519 or ssh-rsa)"}
	}
}

func parseNativeRecipient(text string) (Recipient, error) {
	lower := strings.ToLower(text)
	// Bech32: the type is everything before the last "1" (text starts "age1").
	switch hrp := lower[:strings.LastIndexByte(lower, '1')]; hrp {
	case "age":
		if reason := bech32Problem(lower, x25519RecipientLen); reason != "" {
			return Recipient{}, &recipientError{text: abbreviate(text), reason: reason}
		}
		r, err := age.ParseX25519Recipient(lower)
		if err != nil {
			return Recipient{}, &recipientError{text: abbreviate(text), reason: ageReason(err, lower)}
		}
		return Recipient{Recipient: r, Text: r.String()}, nil
	case "age1pq":
		if reason := bech32Problem(lower, 0); reason != "" {
			return Recipient{}, &recipientError{text: abbreviate(text), reason: reason}
		}
		r, err := age.ParseHybridRecipient(lower)
		if err != nil {
			return Recipient{}, &recipientError{text: abbreviate(text), reason: ageReason(err, lower)}
		}
		return Recipient{Recipient: r, Text: r.String()}, nil
	default:
		return Recipient{}, &recipientError{text: abbreviate(text),
			reason: fmt.Sprintf("plugin recipients (%s...) are not supported", hrp)}
	}
}

// x25519RecipientLen is the length of an age1... X25519 recipient.
const x25519RecipientLen = 62

// bech32Charset is the alphabet of the part of an age key after its last
// "1".
const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

// bech32Problem says in words what is wrong with the shape of the
// lower-cased age key text (a character outside Bech32's alphabet, a length
// other than want when want is not 0), or "" when nothing is; the checksum
// is left to age. Bech32 errors from the library ("invalid character data
// part: s[1]=111") name nothing a person can act on.
func bech32Problem(lower string, want int) string {
	start := strings.LastIndexByte(lower, '1') + 1
	for i, c := range lower[start:] {
		if !strings.ContainsRune(bech32Charset, c) {
			return fmt.Sprintf("malformed: character %q at position %d cannot appear in an age key (after \"age1\" only lower-case letters and digits, without b, i, o and 1): check the key was copied exactly",
				c, start+i+1)
		}
	}
	if want != 0 && len(lower) != want {
		return fmt.Sprintf("malformed: %d characters long, an age1... key has %d: check it was copied whole", len(lower), want)
	}
	return ""
}

func parseSSHRecipient(text string) (Recipient, error) {
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return Recipient{}, &recipientError{text: abbreviate(text), reason: "malformed SSH public key: " + err.Error()}
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return Recipient{}, &recipientError{text: abbreviate(text), reason: "more than one line (give one SSH public key per recipient)"}
	}
	canonical := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	r, err := agessh.ParseRecipient(canonical)
	if err != nil {
		return Recipient{}, &recipientError{text: abbreviate(text), reason: ageReason(err, canonical)}
	}
	return Recipient{Recipient: r, Text: canonical}, nil
}

// ParseRecipients parses a list of recipients; it fails on the first bad one,
// on an empty list (ErrNoRecipients), and on a list that mixes post-quantum
// (age1pq1...) with classic recipients, which age refuses to encrypt to.
// Duplicates (equal Text) are dropped; order is kept.
func ParseRecipients(list []string) ([]Recipient, error) {
	if len(list) == 0 {
		return nil, ErrNoRecipients
	}
	out := make([]Recipient, 0, len(list))
	seen := make(map[string]bool, len(list))
	for i, s := range list {
		r, err := ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %d: %w", i+1, err)
		}
		if seen[r.Text] {
			continue
		}
		if len(out) > 0 && out[0].postQuantum() != r.postQuantum() {
			return nil, fmt.Errorf("recipient %d: %w", i+1, &recipientError{text: abbreviate(r.Text),
				reason: "post-quantum (age1pq1...) and classic recipients cannot be mixed in one list"})
		}
		seen[r.Text] = true
		out = append(out, r)
	}
	return out, nil
}

// ageRecipients unwraps a list for age.Encrypt.
func ageRecipients(rs []Recipient) []age.Recipient {
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		out[i] = r.Recipient
	}
	return out
}

// looksSecret reports whether s looks like secret key material: an age
// secret key or plugin identity (in either case), or a PEM/OpenSSH private key.
func looksSecret(s string) bool {
	u := strings.ToUpper(s)
	return strings.Contains(u, "SECRET-KEY") || strings.Contains(u, "AGE-PLUGIN-") ||
		strings.Contains(u, "PRIVATE KEY")
}

// ageReason drops the quoted recipient age repeats in its errors, leaving
// only why it failed.
func ageReason(err error, text string) string {
	msg := err.Error()
	q := strconv.Quote(text)
	if i := strings.Index(msg, q); i >= 0 {
		head, tail := strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":"), strings.TrimPrefix(msg[i+len(q):], ":")
		return strings.TrimSpace(head + ":" + tail)
	}
	return msg
}

// abbreviate keeps error messages short when a long key is pasted wrong.
func abbreviate(s string) string { return abbreviateTo(s, 80) }

// abbreviateTo cuts s to limit bytes, marking the cut.
func abbreviateTo(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
