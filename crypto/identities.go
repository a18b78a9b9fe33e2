package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// ErrNoIdentities is returned when an identity file holds no key, or when an
// empty identity list is given to Decrypt.
var ErrNoIdentities = errors.New("no age identities")

// maxIdentityFile bounds what ParseIdentities reads, like age's own parser.
const maxIdentityFile = 16 << 20

// Identity is a parsed age identity (a private key). It never prints its
// secret: String, GoString and so every fmt verb show only the fingerprint.
// The embedded age.Identity is the key itself; do not print or log it.
type Identity struct {
	age.Identity
	// recipient is the public half in canonical Recipient.Text form.
	recipient string
}

// Fingerprint of the identity's public half; it equals the Fingerprint of
// the matching Recipient.
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

// Format prints String for every verb, %d and %x included.
func (i Identity) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, i.String()) }

// ParseIdentities reads an identity file: either age identities
// (AGE-SECRET-KEY-1... or AGE-SECRET-KEY-PQ-1..., one per line, blank lines
// and # comments ignored, CRLF line ends and blanks around a key tolerated),
// as written by age-keygen and FormatIdentity, or one unencrypted OpenSSH
// or PEM private key (ed25519 or RSA), as `age -i` accepts. A file with no key gives ErrNoIdentities. Errors never contain key
// material.
func ParseIdentities(r io.Reader) ([]Identity, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	if len(data) > maxIdentityFile {
		return nil, errors.New("identity file is too long")
	}
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		id, err := parseSSHIdentity(trimmed)
		if err != nil {
			return nil, err
		}
		return []Identity{id}, nil
	}
	data = trimLines(data)
	if !hasKeyLine(data) {
		return nil, ErrNoIdentities
	}
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		// age's messages name a line number and a reason, never the key.
		return nil, fmt.Errorf("age identity file: %w", err)
	}
	out := make([]Identity, len(ids))
	for i, id := range ids {
		out[i] = wrapIdentity(id)
	}
	return out, nil
}

// trimLines drops the blanks around every line (carriage returns included),
// so a file saved with CRLF line ends or pasted indented still parses.
func trimLines(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for line := range bytes.Lines(data) {
		out = append(out, bytes.TrimSpace(line)...)
		out = append(out, '\n')
	}
	return out
}

// hasKeyLine reports whether data has a line that is neither blank nor a
// comment, by the rules of age.ParseIdentities.
func hasKeyLine(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) != 0 && line[0] != '#' {
			return true
		}
	}
	return false
}

func parseSSHIdentity(pemBytes []byte) (Identity, error) {
	k, err := ssh.ParseRawPrivateKey(pemBytes)
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return Identity{}, errors.New("ssh identity: the key is passphrase-protected; " +
				"use an unencrypted key or an age identity")
		}
		return Identity{}, fmt.Errorf("ssh identity: %w", err)
	}
	var id age.Identity
	switch k := k.(type) {
	case *ed25519.PrivateKey:
		id, err = agessh.NewEd25519Identity(*k)
	case ed25519.PrivateKey:
		id, err = agessh.NewEd25519Identity(k)
	case *rsa.PrivateKey:
		id, err = agessh.NewRSAIdentity(k)
	default:
		return Identity{}, fmt.Errorf("ssh identity: %T keys are not supported (want ed25519 or RSA)", k)
	}
	if err != nil {
		return Identity{}, fmt.Errorf("ssh identity: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(k)
	if err != nil {
		return Identity{}, fmt.Errorf("ssh identity: %w", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	return Identity{Identity: id, recipient: pub}, nil
}

func wrapIdentity(id age.Identity) Identity {
	var rcpt string
	switch v := id.(type) {
	case *age.X25519Identity:
		rcpt = v.Recipient().String()
	case *age.HybridIdentity:
		rcpt = v.Recipient().String()
	}
	return Identity{Identity: id, recipient: rcpt}
}

// GenerateIdentity makes a new X25519 identity. The caller writes it with
// FormatIdentity and must keep it secret; its String method returns the
// secret key.
func GenerateIdentity() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("generate age identity: %w", err)
	}
	return id, nil
}

// FormatIdentity returns the identity file for id in age-keygen's format: two
// comment lines (creation time, public key) and the secret key. The result is
// secret; ParseIdentities and `age -d -i` read it.
func FormatIdentity(id *age.X25519Identity, created time.Time) []byte {
	return fmt.Appendf(nil, "# created: %s\n# public key: %s\n%s\n",
		created.Format(time.RFC3339), id.Recipient(), id)
}

// ageIdentities unwraps a list for age.Decrypt.
func ageIdentities(ids []Identity) []age.Identity {
	out := make([]age.Identity, len(ids))
	for i, id := range ids {
		out[i] = id.Identity
	}
	return out
}
