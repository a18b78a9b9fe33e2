package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// sealed encrypts plain to the named keys and returns the file and the
// length of its header (with the nonce).
func sealed(t *testing.T, plain []byte, names ...string) (file []byte, headerLen int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := Encrypt(&buf, recipientsOf(t, names...))
	if err != nil {
		t.Fatal(err)
	}
	headerLen = buf.Len()
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), headerLen
}

// decryptAll decrypts file and reports at which step it failed.
func decryptAll(file []byte, ids []Identity) (plain []byte, atDecrypt bool, err error) {
	r, err := Decrypt(bytes.NewReader(file), ids)
	if err != nil {
		return nil, true, err
	}
	plain, err = io.ReadAll(r)
	return plain, false, err
}

func TestWrongIdentity(t *testing.T) {
	for _, tc := range []struct{ to, with []string }{
		{[]string{"x25519"}, []string{"x25519b"}},
		{[]string{"x25519", "ssh-rsa"}, []string{"x25519b", "ssh-ed25519"}},
		{[]string{"ssh-ed25519"}, []string{"x25519"}},
		{[]string{"pq"}, []string{"pqb", "x25519"}},
	} {
		t.Run(strings.Join(tc.to, "+")+"/"+strings.Join(tc.with, "+"), func(t *testing.T) {
			file, _ := sealed(t, []byte("phi"), tc.to...)
			var ids []Identity
			for _, n := range tc.with {
				ids = append(ids, identityOf(t, n)...)
			}
			_, atDecrypt, err := decryptAll(file, ids)
			if !errors.Is(err, ErrWrongIdentity) || !atDecrypt {
				t.Fatalf("Decrypt with the wrong identity = %v (at Decrypt: %v), want ErrWrongIdentity from Decrypt", err, atDecrypt)
			}
			if errors.Is(err, ErrCorrupt) {
				t.Errorf("wrong identity also reported as corrupt: %v", err)
			}
			for _, id := range ids {
				if !strings.Contains(err.Error(), id.Fingerprint()) {
					t.Errorf("error %q does not name the identity tried (%s)", err, id.Fingerprint())
				}
			}
			assertNoSecret(t, "wrong-identity error", err.Error())
		})
	}
}

func TestTruncated(t *testing.T) {
	plain := plaintext(3*payloadChunk + 100)
	file, headerLen := sealed(t, plain, "x25519")
	encChunk := payloadChunk + chunkTag
	cuts := []struct {
		name      string
		n         int
		atDecrypt bool
	}{
		{"empty", 0, true},
		{"in the intro", 10, true},
		{"in the header", headerLen / 2, true},
		{"before the MAC line ends", headerLen - 17, true},
		{"in the nonce", headerLen - 5, true},
		{"no payload", headerLen, false},
		{"in the first chunk", headerLen + 1000, false},
		{"at a chunk boundary", headerLen + encChunk, false},
		{"at the last chunk", headerLen + 3*encChunk, false},
		{"last byte", len(file) - 1, false},
	}
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			got, atDecrypt, err := decryptAll(file[:c.n], identityOf(t, "x25519"))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d of %d bytes: err = %v, want ErrCorrupt", c.n, len(file), err)
			}
			if atDecrypt != c.atDecrypt {
				t.Errorf("error reported at Decrypt = %v, want %v: %v", atDecrypt, c.atDecrypt, err)
			}
			if !bytes.HasPrefix(plain, got) {
				t.Error("released plaintext that is not a prefix of the original")
			}
			assertNoSecret(t, "truncation error", err.Error())
		})
	}
	t.Run("trailing data", func(t *testing.T) {
		_, atDecrypt, err := decryptAll(append(bytes.Clone(file), 0), identityOf(t, "x25519"))
		if !errors.Is(err, ErrCorrupt) || atDecrypt {
			t.Fatalf("trailing byte: err = %v (at Decrypt %v), want ErrCorrupt from Read", err, atDecrypt)
		}
	})
}

func TestBitFlipPayload(t *testing.T) {
	plain := plaintext(2*payloadChunk + 10)
	file, headerLen := sealed(t, plain, "x25519")
	for _, off := range []int{
		headerLen - 1,                    // the nonce, which keys the payload
		headerLen,                        // first payload byte
		headerLen + payloadChunk + 3,     // first chunk's tag
		headerLen + payloadChunk + 16,    // second chunk
		len(file) - 1,                    // last chunk's tag
		headerLen + 2*payloadChunk + 40,  // last chunk's data
		headerLen + payloadChunk/2 + 123, // mid-chunk
	} {
		for _, bit := range []byte{0x01, 0x80} {
			t.Run(fmt.Sprintf("%d^%#x", off, bit), func(t *testing.T) {
				bad := bytes.Clone(file)
				bad[off] ^= bit
				got, atDecrypt, err := decryptAll(bad, identityOf(t, "x25519"))
				if !errors.Is(err, ErrCorrupt) || atDecrypt {
					t.Fatalf("flipped payload bit: err = %v (at Decrypt %v), want ErrCorrupt from Read", err, atDecrypt)
				}
				if !bytes.HasPrefix(plain, got) {
					t.Error("released plaintext that is not a prefix of the original")
				}
				assertNoSecret(t, "bit-flip error", err.Error())
			})
		}
	}
}

// TestBitFlipHeader flips every bit of a header: none may decrypt. A flip in
// the intro or the MAC line must say ErrCorrupt; one in a recipient stanza
// may look like a wrong identity (age cannot tell them apart), never else.
func TestBitFlipHeader(t *testing.T) {
	file, headerLen := sealed(t, []byte("phi record"), "x25519")
	header := string(file[:headerLen-16])
	macStart := strings.LastIndex(header, "\n---") + 1
	for off := range headerLen - 16 {
		for bit := range 8 {
			bad := bytes.Clone(file)
			bad[off] ^= 1 << bit
			_, atDecrypt, err := decryptAll(bad, identityOf(t, "x25519"))
			switch {
			case err == nil:
				t.Fatalf("header byte %d bit %d flipped: decrypted anyway", off, bit)
			case !atDecrypt:
				t.Errorf("header byte %d bit %d flipped: error at Read, want at Decrypt: %v", off, bit, err)
			case off < len(ageIntro) || off >= macStart:
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("header byte %d bit %d flipped: %v, want ErrCorrupt", off, bit, err)
				}
			case !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrWrongIdentity):
				t.Errorf("header byte %d bit %d flipped: %v, want ErrCorrupt or ErrWrongIdentity", off, bit, err)
			}
			if err != nil {
				assertNoSecret(t, "header error", err.Error())
			}
		}
	}
}

func TestGarbage(t *testing.T) {
	const marker = "Patient: Jane Roe"
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"newline", []byte("\n")},
		{"plaintext", []byte(marker + ", DOB 1970-01-01\nDiagnosis: ...\n")},
		{"binary", plaintext(5000)},
		{"intro only", []byte(ageIntro)},
		{"intro and junk", []byte(ageIntro + "-> X25519 \x00\x01\n" + marker)},
		{"long header line", []byte(ageIntro + "-> X25519 " + strings.Repeat("\x01", 100000) + "\n")},
		{"armored", []byte("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n")},
		{"secret key", []byte(testKeys(t)["x25519"].secrets[0] + "\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, atDecrypt, err := decryptAll(tc.in, identityOf(t, "x25519"))
			if !errors.Is(err, ErrCorrupt) || !atDecrypt {
				t.Fatalf("Decrypt(%s) = %v (at Decrypt %v), want ErrCorrupt from Decrypt", tc.name, err, atDecrypt)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
			if strings.Contains(err.Error(), "Jane Roe") {
				t.Errorf("error quotes the input: %v", err)
			}
			assertNoSecret(t, "garbage error", err.Error())
		})
	}
}

// TestSourceError checks that a failing source is reported as such, not as a
// corrupt file, whether it fails in the header or in the payload.
func TestSourceError(t *testing.T) {
	file, headerLen := sealed(t, plaintext(3*payloadChunk), "x25519")
	errNet := errors.New("connection reset by peer")
	for _, n := range []int{0, 5, headerLen / 2, headerLen, headerLen + payloadChunk + 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			src := io.MultiReader(bytes.NewReader(file[:n]), errReader{errNet})
			r, err := Decrypt(src, identityOf(t, "x25519"))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, errNet) {
				t.Fatalf("source failing after %d bytes: %v, want it to wrap the source error", n, err)
			}
			if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrWrongIdentity) {
				t.Errorf("source error reported as a bad file: %v", err)
			}
		})
	}
}
