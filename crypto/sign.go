package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrBadSignature: a signature does not verify under the given public key.
var ErrBadSignature = errors.New("signature does not verify")

// SigningKey is an ed25519 private key that signs seals and audit entries.
// It prints as **redacted** with every fmt verb. The zero SigningKey holds no
// key: get one from GenerateSigningKey or ParseSigningKey.
type SigningKey struct{ key ed25519.PrivateKey }

// VerifyKey is the public half of a SigningKey.
type VerifyKey struct{ key ed25519.PublicKey }

// GenerateSigningKey makes a new ed25519 signing key.
func GenerateSigningKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return SigningKey{key: priv}, nil
}

// String never reveals the key.
func (k SigningKey) String() string { return "**redacted**" }

// GoString keeps %#v from printing the key.
func (k SigningKey) GoString() string { return "**redacted**" }

// Format prints **redacted** for every verb, %d and %x included.
func (k SigningKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, "**redacted**") }

// Public returns the verification key; that of the zero SigningKey verifies
// nothing.
func (k SigningKey) Public() VerifyKey {
	if len(k.key) != ed25519.PrivateKeySize {
		return VerifyKey{}
	}
	return VerifyKey{key: k.key.Public().(ed25519.PublicKey)}
}

// Sign returns the ed25519 signature of msg. It panics on the zero
// SigningKey, a programming error.
func (k SigningKey) Sign(msg []byte) []byte { return ed25519.Sign(k.key, msg) }

// MarshalPEM encodes the key as a PKCS#8 "PRIVATE KEY" PEM block (the format
// `openssl genpkey -algorithm ed25519` writes).
func (k SigningKey) MarshalPEM() ([]byte, error) {
	if len(k.key) != ed25519.PrivateKeySize {
		return nil, errors.New("encode signing key: no key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseSigningKey reads a PKCS#8 PEM ed25519 private key. Errors never
// contain key material.
func ParseSigningKey(data []byte) (SigningKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return SigningKey{}, errors.New("signing key: not a PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return SigningKey{}, errors.New("signing key: not a PKCS#8 private key")
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("signing key: %T is not ed25519", k)
	}
	return SigningKey{key: priv}, nil
}

// Verify checks sig over msg; the error wraps ErrBadSignature.
func (v VerifyKey) Verify(msg, sig []byte) error {
	if len(v.key) != ed25519.PublicKeySize || !ed25519.Verify(v.key, msg, sig) {
		return ErrBadSignature
	}
	return nil
}

// KeyID is the fingerprint seals carry to name the key that signed them.
func (v VerifyKey) KeyID() string { return Fingerprint(v.String()) }

// String is the key as "ed25519:" and standard base64, the form published in
// keys/signing.pub and accepted by ParseVerifyKey.
func (v VerifyKey) String() string { return "ed25519:" + base64.StdEncoding.EncodeToString(v.key) }

// ParseVerifyKey reads "ed25519:<base64>" (VerifyKey.String) or a PEM
// "PUBLIC KEY" block (`openssl pkey -pubout`).
func ParseVerifyKey(data []byte) (VerifyKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return VerifyKey{}, fmt.Errorf("verify key: PEM block is %q, want \"PUBLIC KEY\"", abbreviate(block.Type))
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return VerifyKey{}, fmt.Errorf("verify key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return VerifyKey{}, fmt.Errorf("verify key: %T is not ed25519", k)
		}
		return VerifyKey{key: pub}, nil
	}
	s := strings.TrimSpace(string(data))
	const prefix = "ed25519:"
	if len(s) <= len(prefix) || s[:len(prefix)] != prefix {
		return VerifyKey{}, errors.New("verify key: want \"ed25519:<base64>\" or a PEM PUBLIC KEY")
	}
	raw, err := base64.StdEncoding.DecodeString(s[len(prefix):])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return VerifyKey{}, errors.New("verify key: bad ed25519 public key encoding")
	}
	return VerifyKey{key: ed25519.PublicKey(raw)}, nil
}
