package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// lockedSSHKey is an ed25519 key protected by the passphrase "hunter2"
// (ssh-keygen -t ed25519 -N hunter2), a test key only.
const lockedSSHKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABCnFxEsIk
FgpD19t6l3iuIQAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIN3EIkYUFGbUvQr7
6KQpEYKAuGZrgV7ODsNtgQJvzHoJAAAAkM77TukT8msewjp2qkF8dDlVHt5OGlQYO/qK/j
vlTlV9Pu86YhQ3G9JtieBt8ohXG7w1wHumfJyzqQtUvwBiC0h8CDgvqmRIld8cjZlGmstX
vAveF5MKGRfWr5GUhZ/VT+e+zN+8VXbA8n/F+oenYT4Ub22Hjn/k8KTOOH5Xpe7tREwocX
HUh3MiodXk4Hly2w==
-----END OPENSSH PRIVATE KEY-----
`

func TestParseIdentities(t *testing.T) {
	ks := testKeys(t)
	x, xb, pq := ks["x25519"], ks["x25519b"], ks["pq"]
	secretX := x.secrets[0]
	badSum := secretX[:len(secretX)-1] + map[bool]string{true: "Q", false: "P"}[secretX[len(secretX)-1] != 'Q']

	for _, tc := range []struct {
		name   string
		in     string
		want   []testKey // identities expected, in order; nil means an error
		is     error     // when an error: errors.Is target, if any
		errHas string
		errNot string
	}{
		{name: "age-keygen style", in: string(x.idFile), want: []testKey{x}},
		{name: "comments and several keys", in: "# first\n\n" + secretX + "\n# second\r\n" + xb.secrets[0] + "\n\n# hybrid\n" + pq.secrets[0],
			want: []testKey{x, xb, pq}},
		{name: "CRLF and trailing blanks", in: "# key\r\n  " + secretX + " \t\r\n" + xb.secrets[0] + "\r\n", want: []testKey{x, xb}},
		{name: "ssh-ed25519 OpenSSH PEM", in: string(ks["ssh-ed25519"].idFile), want: []testKey{ks["ssh-ed25519"]}},
		{name: "ssh-ed25519 PEM after blank lines", in: "\n\n" + string(ks["ssh-ed25519"].idFile), want: []testKey{ks["ssh-ed25519"]}},
		{name: "ssh-rsa OpenSSH PEM", in: string(ks["ssh-rsa"].idFile), want: []testKey{ks["ssh-rsa"]}},
		{name: "empty", in: "", is: ErrNoIdentities},
		{name: "only comments", in: "# created: 2026-01-01\n# public key: age1...\n\n", is: ErrNoIdentities},
		{name: "garbage", in: "hello world\n", errHas: "line 1", errNot: "hello"},
		{name: "bad checksum", in: "# key\n" + badSum + "\n", errHas: "line 2", errNot: badSum[16:40]},
		{name: "secret then garbage", in: secretX + "\nnot a key", errHas: "line 2"},
		{name: "recipient instead of identity", in: x.recipient.Text, errHas: "unknown identity type"},
		{name: "passphrase ssh key", in: lockedSSHKey, errHas: "passphrase"},
		{name: "broken PEM", in: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", errHas: "ssh identity"},
		{name: "binary", in: "\xff\xfe\x00garbage", errHas: "identit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := ParseIdentities(strings.NewReader(tc.in))
			if tc.want != nil {
				if err != nil {
					t.Fatalf("ParseIdentities = %v", err)
				}
				if len(ids) != len(tc.want) {
					t.Fatalf("got %d identities, want %d", len(ids), len(tc.want))
				}
				for i, k := range tc.want {
					if ids[i].Fingerprint() != k.recipient.Fingerprint() {
						t.Errorf("identity %d: fingerprint %s, want %s's %s", i, ids[i].Fingerprint(), k.name, k.recipient.Fingerprint())
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseIdentities succeeded with %d identities, want an error", len(ids))
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("error %q does not contain %q", err, tc.errHas)
			}
			if tc.errNot != "" && strings.Contains(err.Error(), tc.errNot) {
				t.Errorf("error %q contains %q", err, tc.errNot)
			}
			assertNoSecret(t, "identity error", err.Error())
		})
	}
}

func TestParseIdentitiesTooLong(t *testing.T) {
	big := bytes.Repeat([]byte("# padding line\n"), maxIdentityFile/15+2)
	if _, err := ParseIdentities(bytes.NewReader(big)); err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("ParseIdentities(%d bytes) = %v, want a too-long error", len(big), err)
	}
}

// TestIdentityPrinting: no fmt verb shows an identity's secret, alone, in a
// slice, or in a struct.
func TestIdentityPrinting(t *testing.T) {
	for name, k := range testKeys(t) {
		id := k.identity
		holder := struct {
			ID  Identity
			IDs []Identity
			P   *Identity
		}{id, []Identity{id}, &id}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			for _, v := range []any{id, &id, []Identity{id}, holder} {
				out := fmt.Sprintf(verb, v)
				assertNoSecret(t, fmt.Sprintf("%s printed with %s", name, verb), out)
			}
		}
		if s := id.String(); !strings.Contains(s, k.recipient.Fingerprint()) {
			t.Errorf("%s: String() = %q, want it to show the fingerprint", name, s)
		}
	}
}

func TestFormatIdentity(t *testing.T) {
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	file := string(FormatIdentity(id, created))
	want := "# created: 2026-07-01T12:00:00Z\n# public key: " + id.Recipient().String() + "\n" + id.String() + "\n"
	if file != want {
		t.Errorf("FormatIdentity =\n%s\nwant\n%s", file, want)
	}
	ids, err := ParseIdentities(strings.NewReader(file))
	if err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities(FormatIdentity) = %d, %v", len(ids), err)
	}
	if ids[0].Fingerprint() != Fingerprint(id.Recipient().String()) {
		t.Errorf("fingerprint %s, want %s", ids[0].Fingerprint(), Fingerprint(id.Recipient().String()))
	}
}

func TestFingerprint(t *testing.T) {
	// Seals record fingerprints: the format must never change. The value is
	// the first 16 bytes of `printf %s RECIPIENT | sha256sum`.
	const rcpt = "age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9"
	if got, want := Fingerprint(rcpt), "sha256:f709a070a479ccde2cfc3b5d49956790"; got != want {
		t.Errorf("Fingerprint(%q) = %q, want %q", rcpt, got, want)
	}
	if Fingerprint("age1other") == Fingerprint(rcpt) {
		t.Error("two keys have one fingerprint")
	}
}
