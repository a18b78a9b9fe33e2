package crypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSigning(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(`{"format":"safekeep.dev/seal/v1","objects":3}`)
	sig := k.Sign(msg)
	if err := k.Public().Verify(msg, sig); err != nil {
		t.Fatalf("Verify(own signature) = %v", err)
	}

	pemBytes, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ParseSigningKey(pemBytes)
	if err != nil {
		t.Fatalf("ParseSigningKey(MarshalPEM) = %v", err)
	}
	if k2.Public().String() != k.Public().String() {
		t.Error("MarshalPEM/ParseSigningKey changed the key")
	}
	if err := k.Public().Verify(msg, k2.Sign(msg)); err != nil {
		t.Errorf("signature of the re-parsed key: %v", err)
	}

	for i := range len(msg) * 8 {
		bad := bytes.Clone(msg)
		bad[i/8] ^= 1 << (i % 8)
		if err := k.Public().Verify(bad, sig); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("message bit %d flipped: Verify = %v, want ErrBadSignature", i, err)
		}
	}
	for i := range len(sig) * 8 {
		bad := bytes.Clone(sig)
		bad[i/8] ^= 1 << (i % 8)
		if err := k.Public().Verify(msg, bad); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("signature bit %d flipped: Verify = %v, want ErrBadSignature", i, err)
		}
	}
	other, _ := GenerateSigningKey()
	for name, check := range map[string]error{
		"other key":     other.Public().Verify(msg, sig),
		"short sig":     k.Public().Verify(msg, sig[:10]),
		"nil sig":       k.Public().Verify(msg, nil),
		"zero key":      VerifyKey{}.Verify(msg, sig),
		"zero key pair": SigningKey{}.Public().Verify(msg, sig),
	} {
		if !errors.Is(check, ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", name, check)
		}
	}
	if _, err := (SigningKey{}).MarshalPEM(); err == nil {
		t.Error("MarshalPEM of the zero SigningKey succeeded")
	}

	// KeyID is stable and differs between keys.
	if k.Public().KeyID() != k2.Public().KeyID() || k.Public().KeyID() == other.Public().KeyID() {
		t.Error("KeyID does not identify the key")
	}
}

func TestSigningKeyRedacted(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pemBytes, _ := k.MarshalPEM()
	block, _ := pem.Decode(pemBytes)
	secret := base64.StdEncoding.EncodeToString(block.Bytes)
	seed := fmt.Sprintf("%x", k.key.Seed())
	holder := struct{ Key SigningKey }{k}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, v := range []any{k, &k, holder, []SigningKey{k}} {
			out := fmt.Sprintf(verb, v)
			if !strings.Contains(out, "**redacted**") {
				t.Errorf("Sprintf(%q, %T) = %q, want **redacted**", verb, v, out)
			}
			if strings.Contains(out, seed) || strings.Contains(out, secret[20:]) || strings.Contains(out, strings.TrimSuffix(fmt.Sprintf("%d", []byte(k.key[:8])), "]")) {
				t.Errorf("Sprintf(%q, %T) reveals the key: %q", verb, v, out)
			}
		}
	}
}

func TestParseVerifyKey(t *testing.T) {
	k, _ := GenerateSigningKey()
	pub := k.Public()
	der, err := x509.MarshalPKIXPublicKey(pub.key)
	if err != nil {
		t.Fatal(err)
	}
	pemPub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}))
	privPEM, _ := k.MarshalPEM()

	for _, tc := range []struct {
		name, in string
		ok       bool
		errHas   string
	}{
		{"string form", pub.String(), true, ""},
		{"string form with newline", pub.String() + "\n", true, ""},
		{"PEM", pemPub, true, ""},
		{"empty", "", false, "want"},
		{"prefix only", "ed25519:", false, "want"},
		{"bad base64", "ed25519:!!!", false, "encoding"},
		{"short key", "ed25519:" + base64.StdEncoding.EncodeToString(make([]byte, 31)), false, "encoding"},
		{"other algorithm", ecPEM, false, "not ed25519"},
		{"private key given", string(privPEM), false, "PRIVATE KEY"},
		{"bad PEM body", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", false, "verify key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerifyKey([]byte(tc.in))
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseVerifyKey = %v", err)
				}
				if v.String() != pub.String() {
					t.Errorf("parsed %s, want %s", v, pub)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("ParseVerifyKey = %v, want an error containing %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k.key.Seed())[:20]) {
				t.Errorf("error reveals the private key: %v", err)
			}
		})
	}
}

func TestParseSigningKeyErrors(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})
	for _, tc := range []struct{ name, in, errHas string }{
		{"empty", "", "PEM"},
		{"ssh key", string(testKeys(t)["ssh-ed25519"].idFile), "PEM"},
		{"not PKCS#8", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "PKCS#8"},
		{"ecdsa", string(ecPEM), "not ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSigningKey([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("ParseSigningKey = %v, want an error containing %q", err, tc.errHas)
			}
			assertNoSecret(t, "signing key error", err.Error())
		})
	}
}

// TestOpenSSLInterop: keys from `openssl genpkey -algorithm ed25519` parse;
// signatures verify both ways with `openssl pkeyutl`.
func TestOpenSSLInterop(t *testing.T) {
	openssl := tool(t, "openssl", "openssl")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key.pem")
	run(t, nil, openssl, "genpkey", "-algorithm", "ed25519", "-out", keyFile)
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSigningKey(data)
	if err != nil {
		t.Fatalf("ParseSigningKey(openssl genpkey) = %v", err)
	}
	pubPEM := run(t, nil, openssl, "pkey", "-in", keyFile, "-pubout")
	v, err := ParseVerifyKey(pubPEM)
	if err != nil {
		t.Fatalf("ParseVerifyKey(openssl pkey -pubout) = %v", err)
	}
	if v.String() != k.Public().String() {
		t.Fatalf("openssl public key %s, ours %s", v, k.Public())
	}

	msg := []byte("seal.json bytes\n")
	msgFile := writeFile(t, "msg", msg, 0o600)
	pubFile := writeFile(t, "pub.pem", pubPEM, 0o600)

	// We sign, openssl verifies.
	sigFile := writeFile(t, "sig", k.Sign(msg), 0o600)
	out := run(t, nil, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", pubFile, "-rawin", "-in", msgFile, "-sigfile", sigFile)
	if !strings.Contains(string(out), "Verified Successfully") {
		t.Errorf("openssl pkeyutl -verify: %s", out)
	}
	// openssl signs, we verify.
	sig := run(t, nil, openssl, "pkeyutl", "-sign", "-inkey", keyFile, "-rawin", "-in", msgFile)
	if err := v.Verify(msg, sig); err != nil {
		t.Errorf("Verify(openssl signature) = %v", err)
	}
	// Our MarshalPEM is a key openssl reads.
	ours, _ := GenerateSigningKey()
	oursPEM, _ := ours.MarshalPEM()
	pub := run(t, nil, openssl, "pkey", "-in", writeFile(t, "ours.pem", oursPEM, 0o600), "-pubout")
	if v, err := ParseVerifyKey(pub); err != nil || v.String() != ours.Public().String() {
		t.Errorf("openssl's public half of our key = %v, %v; want %s", v, err, ours.Public())
	}
}
