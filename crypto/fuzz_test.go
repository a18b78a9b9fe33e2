package crypto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// Fixed keys for the fuzzers, so a corpus entry means the same thing on
// every run. Test keys only: never use them for anything else.
const (
	fuzzIdentity  = "AGE-SECRET-KEY-1DY9QTM245MQ499P7XHRJ7WYP7V65QZN74GA5QAWKVVJ2PMLRM87Q5C2T2R"
	fuzzRecipient = "age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9"
)

func FuzzParseRecipient(f *testing.F) {
	ks := testKeys(f)
	for _, k := range ks {
		f.Add(k.recipient.Text)
		f.Add(k.recipient.Text + " comment")
	}
	for _, s := range []string{"", "age1", "age1pq1", "AGE1", "ssh-ed25519", "ssh-rsa AAAA",
		"age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
		fuzzIdentity, strings.ToLower(fuzzIdentity), "-----BEGIN OPENSSH PRIVATE KEY-----", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecipient(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecipient) {
				t.Fatalf("error %q does not wrap ErrInvalidRecipient", err)
			}
			if looksSecret(s) && len(s) > 30 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
				t.Fatalf("error echoes a secret-looking input: %q", err)
			}
			return
		}
		// The canonical form parses to itself.
		again, err := ParseRecipient(r.Text)
		if err != nil || again.Text != r.Text {
			t.Fatalf("ParseRecipient(%q) = %q, %v; want itself", r.Text, again.Text, err)
		}
		if _, err := HeaderSize([]Recipient{r}); err != nil {
			t.Fatalf("parsed recipient %q cannot encrypt: %v", r.Text, err)
		}
	})
}

func FuzzParseIdentities(f *testing.F) {
	for _, k := range testKeys(f) {
		f.Add(k.idFile)
	}
	for _, s := range []string{"", "#\n", "# c\n" + fuzzIdentity + "\n", fuzzIdentity + "\r\n" + fuzzIdentity,
		"AGE-SECRET-KEY-1", "AGE-SECRET-KEY-PQ-1", "-----BEGIN", "-----BEGIN OPENSSH PRIVATE KEY-----\n\n-----END OPENSSH PRIVATE KEY-----",
		"\xff\n", "AGE-PLUGIN-X-1QQQ"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := ParseIdentities(bytes.NewReader(data))
		if err != nil {
			if len(ids) != 0 {
				t.Fatalf("error %v with %d identities", err, len(ids))
			}
			if strings.Contains(err.Error(), fuzzIdentity[16:]) {
				t.Fatalf("error reveals the key: %q", err)
			}
			return
		}
		if len(ids) == 0 {
			t.Fatal("no identities and no error")
		}
		for _, id := range ids {
			if id.Identity == nil {
				t.Fatal("nil identity")
			}
			if s := id.String(); strings.Contains(s, "SECRET") || strings.Contains(s, "PRIVATE") {
				t.Fatalf("String reveals the key: %q", s)
			}
		}
	})
}

func FuzzParseVerifyKey(f *testing.F) {
	k, err := GenerateSigningKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(k.Public().String()))
	f.Add([]byte("ed25519:"))
	f.Add([]byte("ed25519:AAAA"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVerifyKey(data)
		if err != nil {
			return
		}
		again, err := ParseVerifyKey([]byte(v.String()))
		if err != nil || again.String() != v.String() {
			t.Fatalf("ParseVerifyKey(%q) = %v, %v; want itself", v.String(), again, err)
		}
		// Must not panic, whatever the key.
		_ = v.Verify(data, data)
	})
}

// FuzzDecrypt: no input makes Decrypt or its Reader panic, and every failure
// is classified: a wrong identity or a corrupt file.
func FuzzDecrypt(f *testing.F) {
	rs, err := ParseRecipients([]string{fuzzRecipient})
	if err != nil {
		f.Fatal(err)
	}
	for _, size := range []int{0, 1, 100, payloadChunk, payloadChunk + 1} {
		var buf bytes.Buffer
		if _, err := EncryptDigest(&buf, bytes.NewReader(plaintext(size)), rs); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()-1])
	}
	other := recipientsOf(f, "x25519") // not the fuzz identity's
	var buf bytes.Buffer
	if _, err := EncryptDigest(&buf, strings.NewReader("x"), other); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(""))
	f.Add([]byte(ageIntro))
	f.Add([]byte(ageIntro + "-> X25519 AAAA\n\n--- AAAA\n"))
	ids, err := ParseIdentities(strings.NewReader(fuzzIdentity))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decrypt(bytes.NewReader(data), ids)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			if err == nil {
				return
			}
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongIdentity) {
			t.Fatalf("unclassified error: %v", err)
		}
		if strings.Contains(err.Error(), fuzzIdentity[16:]) {
			t.Fatalf("error reveals the key: %q", err)
		}
	})
}
