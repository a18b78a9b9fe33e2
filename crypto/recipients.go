package crypto

import (
	"errors"
	"fmt"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// ErrNoRecipients is returned when a recipient list is empty.
var ErrNoRecipients = errors.New("no age recipients")

// Recipient is a parsed age recipient together with the text it came from.
type Recipient struct {
	age.Recipient
	// Text is the recipient as written (age1..., ssh-ed25519 ..., ssh-rsa ...).
	Text string
}

// Fingerprint identifies the recipient without revealing anything beyond the
// public key itself; see Fingerprint.
func (r Recipient) Fingerprint() string { return Fingerprint(r.Text) }

// ParseRecipient parses one recipient: an X25519 key (age1...), a post-quantum
// hybrid key (age1pq1...), or an SSH public key (ssh-ed25519, ssh-rsa).
// The error names the recipient (a public key, safe to show) and says why.
func ParseRecipient(s string) (Recipient, error) {
	text := strings.TrimSpace(s)
	var (
		r   age.Recipient
		err error
	)
	switch {
	case text == "":
		return Recipient{}, errors.New("empty age recipient")
	case strings.HasPrefix(text, "age1pq1"):
		r, err = age.ParseHybridRecipient(text)
	case strings.HasPrefix(text, "age1"):
		r, err = age.ParseX25519Recipient(text)
	case strings.HasPrefix(text, "ssh-"):
		r, err = agessh.ParseRecipient(text)
	case strings.HasPrefix(text, "AGE-SECRET-KEY-"):
		// Never echo a secret key back, not even in an error.
		return Recipient{}, errors.New("age recipient is a secret key (AGE-SECRET-KEY-...): give its public key (age1...) instead")
	default:
		return Recipient{}, fmt.Errorf("age recipient %q: unknown type (want age1..., ssh-ed25519 or ssh-rsa)", abbreviate(text))
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("age recipient %q: %w", abbreviate(text), err)
	}
	if len(text) > 0 && strings.HasPrefix(text, "ssh-") {
		// Drop the comment so the fingerprint depends on the key alone.
		if f := strings.Fields(text); len(f) >= 2 {
			text = f[0] + " " + f[1]
		}
	}
	return Recipient{Recipient: r, Text: text}, nil
}

// ParseRecipients parses a list of recipients; it fails on the first bad one
// and on an empty list. Duplicates are dropped.
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

// abbreviate keeps error messages short when a long key is pasted wrong.
func abbreviate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
