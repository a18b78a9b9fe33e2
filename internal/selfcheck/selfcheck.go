// Package selfcheck proves, with no network, that a binary has what it needs
// in an empty root filesystem (the controller's image holds nothing but the
// binary): time zones for BackupSchedule spec.timeZone, and CA roots to
// verify an HTTPS S3 endpoint's certificate.
//
// The CA check verifies a public certificate chain, supplied by the caller,
// against the system roots at the time the leaf became valid. In an empty
// root filesystem there are no system roots unless the binary carries its
// own (golang.org/x/crypto/x509roots/fallback), so a pass shows that the
// binary's bundle holds the chain's public root, which is what an HTTPS
// endpoint needs. A private chain fails, which is the check's control.
package selfcheck

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"
)

// Zones are the time zones Run loads: one per continent a schedule is
// likely to name, and one with a half-hour offset.
var Zones = []string{"America/New_York", "Europe/Berlin", "Asia/Kolkata", "Australia/Sydney"}

// ErrNoCertificate means the chain held no PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate")

// Run loads every zone in Zones and verifies chainPEM (PEM certificates,
// the leaf first, then intermediates) against the system roots for the
// leaf's first DNS name at its NotBefore. It writes one line per check to
// w and returns the first failure.
func Run(w io.Writer, chainPEM []byte) error {
	for _, z := range Zones {
		loc, err := time.LoadLocation(z)
		if err != nil {
			return fmt.Errorf("time zone %s: %w", z, err)
		}
		_, off := time.Date(2026, time.January, 1, 0, 0, 0, 0, loc).Zone()
		// Best effort: the result is the error returned.
		_, _ = fmt.Fprintf(w, "time zone %s: ok (UTC%+.1fh in January)\n", z, float64(off)/3600)
	}
	root, name, err := verifyChain(chainPEM)
	if err != nil {
		return err
	}
	// Best effort, as above.
	_, _ = fmt.Fprintf(w, "certificate chain of %s: ok (root %q)\n", name, root)
	return nil
}

// verifyChain verifies chainPEM and returns the subject of the root it
// chains to and the name it was verified for.
func verifyChain(chainPEM []byte) (root, name string, err error) {
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return "", "", fmt.Errorf("certificate chain: certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return "", "", fmt.Errorf("certificate chain: %w", ErrNoCertificate)
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if len(leaf.DNSNames) > 0 {
		name = leaf.DNSNames[0]
	}
	// Roots nil: the system roots, or the fallback bundle when the system
	// has none.
	chains, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Intermediates: inter,
		CurrentTime:   leaf.NotBefore.Add(time.Hour),
	})
	if err != nil {
		return "", "", fmt.Errorf("certificate chain of %s: %w", leaf.Subject.CommonName, err)
	}
	last := chains[0][len(chains[0])-1]
	return last.Subject.String(), name, nil
}
