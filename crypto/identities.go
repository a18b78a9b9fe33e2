package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// ErrNoIdentities is returned when an identity file holds no usable key.
var ErrNoIdentities = errors.New("no age identities")

// maxIdentityFile bounds what ParseIdentities reads, like age's own parser.
const maxIdentityFile = 16 << 20

// Identity is a parsed age identity (a private key). It never prints its
// secret: String and errors show only the recipient fingerprint.
type Identity struct {
	age.Identity
	// Recipient is the public half, empty when it cannot be derived.
	recipient string
}

// Fingerprint of the identity's public half, comparable with
// Recipient.Fingerprint; empty when it cannot be derived.
func (i Identity) Fingerprint() string {
	if i.recipient == "" {
		return ""
	}
	return Fingerprint(i.recipient)
}

// String never reveals key material.
func (i Identity) String() string { return "age identity " + i.Fingerprint() }

// GoString keeps %#v from printing the key.
func (i Identity) GoString() string { return i.String() }

// ParseIdentities reads an identity file: either age identities
// (AGE-SECRET-KEY-1..., one per line, # comments), as written by age-keygen and
// `safekeep keygen`, or an unencrypted OpenSSH private key (ed25519 or RSA).
// Errors never contain key material.
func ParseIdentities(r io.Reader) ([]Identity, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	if len(data) > maxIdentityFile {
		return nil, errors.New("identity file is too long")
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(data)
		if err != nil {
			return nil, fmt.Errorf("ssh identity: %w", err)
		}
		return []Identity{wrapIdentity(id)}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		if bytes.TrimSpace(data) == nil || len(bytes.TrimSpace(data)) == 0 {
			return nil, ErrNoIdentities
		}
		return nil, fmt.Errorf("age identity file: %w", err)
	}
	out := make([]Identity, len(ids))
	for i, id := range ids {
		out[i] = wrapIdentity(id)
	}
	return out, nil
}

func wrapIdentity(id age.Identity) Identity {
	var rcpt string
	switch v := id.(type) {
	case *age.X25519Identity:
		rcpt = v.Recipient().String()
	case *age.HybridIdentity:
		rcpt = v.Recipient().String()
	case *agessh.Ed25519Identity, *agessh.RSAIdentity:
		// agessh recipients have no String; fingerprint by the SSH wire key is
		// not exposed, so leave it empty rather than guess.
	}
	return Identity{Identity: id, recipient: rcpt}
}

// GenerateIdentity makes a new X25519 identity. The caller writes it with
// FormatIdentity and must keep it secret.
func GenerateIdentity() (*age.X25519Identity, error) {
	return age.GenerateX25519Identity()
}

// ageIdentities unwraps a list for age.Decrypt.
func ageIdentities(ids []Identity) []age.Identity {
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		out[i] = id.Identity
	}
	return out
}
