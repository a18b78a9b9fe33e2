package crypto

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRecipient(t *testing.T) {
	ks := testKeys(t)
	x := ks["x25519"].recipient.Text
	ed := ks["ssh-ed25519"].recipient.Text
	rsaKey := ks["ssh-rsa"].recipient.Text
	pq := ks["pq"].recipient.Text
	secret := ks["x25519"].secrets[0]
	// The same key with its last (checksum) character changed.
	badSum := x[:len(x)-1] + map[bool]string{true: "q", false: "p"}[x[len(x)-1] != 'q']

	for _, tc := range []struct {
		name, in string
		text     string   // canonical Text on success
		errHas   []string // substrings of the error; nil means success
		errNot   []string // substrings the error must not contain
	}{
		{name: "x25519", in: x, text: x},
		{name: "x25519 with spaces", in: "  " + x + "\n", text: x},
		{name: "x25519 upper case", in: strings.ToUpper(x), text: x},
		{name: "ssh-ed25519 with comment", in: ed + " alice@laptop", text: ed},
		{name: "ssh-rsa", in: rsaKey + " bob", text: rsaKey},
		{name: "hybrid", in: pq, text: pq},
		{name: "bad checksum", in: badSum, errHas: []string{badSum, "checksum"}},
		{name: "empty", in: "", errHas: []string{"empty"}},
		{name: "blank", in: " \t\n", errHas: []string{"empty"}},
		{name: "secret key", in: secret, errHas: []string{"secret key"}, errNot: []string{secret, secret[16:40]}},
		{name: "secret key lower case", in: strings.ToLower(secret), errHas: []string{"secret key"},
			errNot: []string{strings.ToLower(secret[16:40])}},
		{name: "ssh private key", in: string(ks["ssh-ed25519"].idFile), errHas: []string{"secret key"},
			errNot: []string{"b3BlbnNzaC1rZXktdjE"}},
		{name: "plugin identity", in: "AGE-PLUGIN-YUBIKEY-1QQQQ", errHas: []string{"secret key"}, errNot: []string{"1QQQQ"}},
		{name: "unknown prefix", in: "pgp:ABCDEF0123", errHas: []string{`"pgp:ABCDEF0123"`, "unknown type"}},
		{name: "plugin recipient", in: "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
			errHas: []string{"age1yubikey1qwt50d", "plugin"}},
		{name: "age1 alone", in: "age1", errHas: []string{`"age1"`, "malformed", "62"}},
		{name: "letter o in an age key", in: x[:10] + "o" + x[11:], errHas: []string{`character 'o' at position 11 cannot appear in an age key`},
			errNot: []string{"s[", "data part"}},
		{name: "age key with a character lost", in: x[:61], errHas: []string{"61 characters long, an age1... key has 62"}},
		{name: "truncated x25519", in: x[:30], errHas: []string{x[:30]}},
		{name: "ssh-dss", in: "ssh-dss AAAAB3NzaC1kc3MAAACBAP", errHas: []string{"ssh-dss", "SSH"}},
		{name: "ssh key truncated", in: ed[:40], errHas: []string{ed[:40], "malformed SSH public key"}},
		{name: "x25519 low-order point", in: "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z",
			errHas: []string{"age1qqqq", "unusable key"}},
		{name: "two ssh keys", in: ed + "\n" + rsaKey, errHas: []string{"more than one line"}},
		{name: "long garbage", in: strings.Repeat("z", 500), errHas: []string{strings.Repeat("z", 80) + "..."},
			errNot: []string{strings.Repeat("z", 81)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecipient(tc.in)
			if tc.errHas == nil {
				if err != nil {
					t.Fatalf("ParseRecipient(%q) = %v", tc.in, err)
				}
				if r.Text != tc.text || r.Recipient == nil {
					t.Errorf("Text = %q, want %q", r.Text, tc.text)
				}
				if !strings.HasPrefix(r.Fingerprint(), "sha256:") || len(r.Fingerprint()) != len("sha256:")+32 {
					t.Errorf("Fingerprint = %q", r.Fingerprint())
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseRecipient(%q) succeeded, want an error", tc.in)
			}
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Errorf("error %q does not wrap ErrInvalidRecipient", err)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			for _, s := range tc.errNot {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains %q", err, s)
				}
			}
			assertNoSecret(t, "recipient error", err.Error())
		})
	}
}

func TestRecipientFingerprintMatchesIdentity(t *testing.T) {
	for name, k := range testKeys(t) {
		if k.identity.Fingerprint() == "" || k.identity.Fingerprint() != k.recipient.Fingerprint() {
			t.Errorf("%s: identity fingerprint %q, recipient fingerprint %q", name, k.identity.Fingerprint(), k.recipient.Fingerprint())
		}
	}
	a, b := testKeys(t)["x25519"].recipient, testKeys(t)["x25519b"].recipient
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("two keys have one fingerprint")
	}
}

func TestParseRecipients(t *testing.T) {
	ks := testKeys(t)
	x, xb, ed := ks["x25519"].recipient.Text, ks["x25519b"].recipient.Text, ks["ssh-ed25519"].recipient.Text
	pq, pqb := ks["pq"].recipient.Text, ks["pqb"].recipient.Text

	rs, err := ParseRecipients([]string{x, ed + " comment", strings.ToUpper(x), xb, ed})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Text)
	}
	if want := []string{x, ed, xb}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ParseRecipients kept %q, want %q (duplicates dropped, order kept)", got, want)
	}
	if rs, err := ParseRecipients([]string{pq, pqb, pq}); err != nil || len(rs) != 2 {
		t.Errorf("ParseRecipients(two hybrid) = %d, %v", len(rs), err)
	}

	for _, tc := range []struct {
		name   string
		in     []string
		is     error
		errHas []string
	}{
		{"nil", nil, ErrNoRecipients, nil},
		{"empty", []string{}, ErrNoRecipients, nil},
		{"bad second", []string{x, "nonsense"}, ErrInvalidRecipient, []string{"recipient 2", "nonsense"}},
		{"mixed pq and classic", []string{x, pq}, ErrInvalidRecipient, []string{"recipient 2", "post-quantum"}},
		{"mixed classic and pq", []string{pq, ed}, ErrInvalidRecipient, []string{"recipient 2", "post-quantum"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRecipients(tc.in)
			if !errors.Is(err, tc.is) {
				t.Fatalf("ParseRecipients = %v, want %v", err, tc.is)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}
