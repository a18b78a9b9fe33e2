package crypto

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// interopSizes are the plaintext sizes exchanged with the age CLI.
var interopSizes = []int{0, 1, payloadChunk, payloadChunk + 1, 3<<20 + 5}

// TestAgeCLIDecryptsOurs: every file we write is a standard age file that
// `age -d -i KEY` opens, for each recipient type the CLI knows.
func TestAgeCLIDecryptsOurs(t *testing.T) {
	ageBin := tool(t, "age", "age")
	for _, set := range [][]string{{"x25519"}, {"ssh-ed25519"}, {"ssh-rsa"}, {"x25519", "ssh-ed25519", "ssh-rsa"}} {
		rs := recipientsOf(t, set...)
		for _, size := range interopSizes {
			plain := plaintext(size)
			t.Run(strings.Join(set, "+")+"/"+sizeName(size), func(t *testing.T) {
				var file bytes.Buffer
				if _, err := EncryptDigest(&file, bytes.NewReader(plain), rs); err != nil {
					t.Fatal(err)
				}
				in := writeFile(t, "in.age", file.Bytes(), 0o600)
				for _, name := range set {
					key := writeFile(t, "key", testKeys(t)[name].idFile, 0o600)
					got := run(t, nil, ageBin, "-d", "-i", key, in)
					if !bytes.Equal(got, plain) {
						t.Fatalf("age -d -i %s: %d bytes that differ from the %d encrypted", name, len(got), len(plain))
					}
				}
			})
		}
	}
}

// TestWeDecryptAgeCLI: a file `age -r RECIPIENT` writes opens with Decrypt.
func TestWeDecryptAgeCLI(t *testing.T) {
	ageBin := tool(t, "age", "age")
	for _, set := range [][]string{{"x25519"}, {"ssh-ed25519"}, {"ssh-rsa"}, {"x25519b", "ssh-ed25519", "ssh-rsa"}} {
		var args []string
		for _, name := range set {
			r := testKeys(t)[name].recipient.Text
			if strings.HasPrefix(r, "ssh-") {
				r += " someone@example" // with a comment, as users paste them
			}
			args = append(args, "-r", r)
		}
		for _, size := range interopSizes {
			plain := plaintext(size)
			t.Run(strings.Join(set, "+")+"/"+sizeName(size), func(t *testing.T) {
				file := run(t, plain, ageBin, append(args, "-e")...)
				for _, name := range set {
					var got bytes.Buffer
					d, err := DecryptDigest(&got, bytes.NewReader(file), identityOf(t, name))
					if err != nil {
						t.Fatalf("decrypt age CLI file with %s: %v", name, err)
					}
					if !bytes.Equal(got.Bytes(), plain) || d.PlainSize != int64(size) || d.CipherSize != int64(len(file)) {
						t.Fatalf("decrypt age CLI file with %s: got %d bytes (digest sizes %d/%d), want %d", name, got.Len(), d.PlainSize, d.CipherSize, size)
					}
				}
				// The CLI's header has the length HeaderSize predicts.
				rs := recipientsOf(t, set...)
				if want, err := EncryptedSize(rs, int64(size)); err != nil || want != int64(len(file)) {
					t.Errorf("EncryptedSize = %d, %v; age CLI wrote %d bytes", want, err, len(file))
				}
			})
		}
	}
}

// TestAgeKeygen: age-keygen's file parses, and its recipient (age-keygen -y)
// has the identity's fingerprint; files encrypted to it both ways open.
func TestAgeKeygen(t *testing.T) {
	keygen := tool(t, "age-keygen", "age")
	ageBin := tool(t, "age", "age")
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	run(t, nil, keygen, "-o", keyFile)
	data, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities(age-keygen file) = %v, %v; want one identity", ids, err)
	}
	pub := strings.TrimSpace(string(run(t, nil, keygen, "-y", keyFile)))
	r, err := ParseRecipient(pub)
	if err != nil {
		t.Fatalf("ParseRecipient(age-keygen -y) = %v", err)
	}
	if ids[0].Fingerprint() != r.Fingerprint() || r.Text != pub {
		t.Errorf("identity fingerprint %s, recipient %q fingerprint %s: want equal", ids[0].Fingerprint(), r.Text, r.Fingerprint())
	}
	if strings.Contains(ids[0].String(), "AGE-SECRET-KEY") {
		t.Errorf("Identity.String reveals the key: %s", ids[0])
	}

	plain := []byte("velero backup bytes")
	var file bytes.Buffer
	if _, err := EncryptDigest(&file, bytes.NewReader(plain), []Recipient{r}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, nil, ageBin, "-d", "-i", keyFile, writeFile(t, "f.age", file.Bytes(), 0o600)); !bytes.Equal(got, plain) {
		t.Errorf("age -d of our file to an age-keygen key = %q, want %q", got, plain)
	}
	cli := run(t, plain, ageBin, "-e", "-r", pub)
	rd, err := Decrypt(bytes.NewReader(cli), ids)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rd); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("Decrypt of age CLI file with age-keygen key = %q, %v", got, err)
	}
}

// TestFormatIdentityCLI: the identity file we write is one the age CLI reads.
func TestFormatIdentityCLI(t *testing.T) {
	ageBin := tool(t, "age", "age")
	keygen := tool(t, "age-keygen", "age")
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "key.txt", FormatIdentity(id, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), 0o600)
	if got := strings.TrimSpace(string(run(t, nil, keygen, "-y", keyFile))); got != id.Recipient().String() {
		t.Errorf("age-keygen -y of our identity file = %q, want %q", got, id.Recipient())
	}
	cli := run(t, []byte("x"), ageBin, "-e", "-r", id.Recipient().String())
	if got := run(t, nil, ageBin, "-d", "-i", keyFile, writeFile(t, "f.age", cli, 0o600)); string(got) != "x" {
		t.Errorf("age -d -i (our identity file) = %q", got)
	}
}
