package selfcheck

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	// As in safekeep-controller: the chain must verify with no system roots.
	_ "golang.org/x/crypto/x509roots/fallback"
)

func TestPublicChain(t *testing.T) {
	chain, err := os.ReadFile("testdata/public-chain.pem")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Run(&out, chain); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"time zone Asia/Kolkata: ok (UTC+5.5h in January)", `certificate chain of www.google.com: ok (root "CN=GTS Root R1`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestPrivateChainFails is the control: a chain no public root signed
// must fail, or a pass above proves nothing.
func TestPrivateChainFails(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "s3.example.internal"},
		DNSNames: []string{"s3.example.internal"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	err = Run(&bytes.Buffer{}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); !ok {
		t.Errorf("a self-signed chain: %v, want x509.UnknownAuthorityError", err)
	}
}

func TestBadInput(t *testing.T) {
	if err := Run(&bytes.Buffer{}, []byte("not PEM")); !errors.Is(err, ErrNoCertificate) {
		t.Errorf("no PEM: %v, want ErrNoCertificate", err)
	}
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")})
	if err := Run(&bytes.Buffer{}, bad); err == nil || !strings.Contains(err.Error(), "certificate 1") {
		t.Errorf("garbage DER: %v, want an error naming certificate 1", err)
	}
}
