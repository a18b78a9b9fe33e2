package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
)

// roundTripSizes are the plaintext sizes every round trip covers: empty, one
// byte, exactly one chunk, one chunk and a byte, exactly two chunks, and
// several MiB that end mid-chunk.
var roundTripSizes = []int{0, 1, payloadChunk, payloadChunk + 1, 2 * payloadChunk, 3<<20 + 12345}

// recipientSets are the recipient lists every round trip covers. age cannot
// mix post-quantum and classic recipients, so the hybrid keys go alone.
var recipientSets = []struct {
	name string
	keys []string
}{
	{"x25519", []string{"x25519"}},
	{"ssh-ed25519", []string{"ssh-ed25519"}},
	{"ssh-rsa", []string{"ssh-rsa"}},
	{"several", []string{"x25519", "ssh-ed25519", "x25519b", "ssh-rsa"}},
	{"pq", []string{"pq"}},
	{"pq-several", []string{"pq", "pqb"}},
}

func TestRoundTrip(t *testing.T) {
	for _, set := range recipientSets {
		rs := recipientsOf(t, set.keys...)
		for _, size := range roundTripSizes {
			plain := plaintext(size)
			t.Run(set.name+"/"+sizeName(size), func(t *testing.T) {
				var file bytes.Buffer
				w, err := Encrypt(&file, rs)
				if err != nil {
					t.Fatalf("Encrypt: %v", err)
				}
				headerLen := int64(file.Len()) // Encrypt writes header and nonce before it returns
				// Odd-sized writes cross chunk boundaries at every offset.
				if _, err := io.CopyBuffer(w, onlyReader{bytes.NewReader(plain)}, make([]byte, 7001)); err != nil {
					t.Fatalf("write: %v", err)
				}
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				want, err := HeaderSize(rs)
				if err != nil {
					t.Fatalf("HeaderSize: %v", err)
				}
				if headerLen != want {
					t.Errorf("HeaderSize = %d, Encrypt wrote a %d-byte header", want, headerLen)
				}
				if got, want := CiphertextSize(headerLen, int64(size)), int64(file.Len()); got != want {
					t.Errorf("CiphertextSize(%d, %d) = %d, age wrote %d", headerLen, size, got, want)
				}
				if got, err := EncryptedSize(rs, int64(size)); err != nil || got != int64(file.Len()) {
					t.Errorf("EncryptedSize = %d, %v; age wrote %d", got, err, file.Len())
				}
				for _, name := range set.keys {
					r, err := Decrypt(bytes.NewReader(file.Bytes()), identityOf(t, name))
					if err != nil {
						t.Fatalf("Decrypt with %s: %v", name, err)
					}
					got, err := io.ReadAll(r)
					if err != nil {
						t.Fatalf("read with %s: %v", name, err)
					}
					if !bytes.Equal(got, plain) {
						t.Fatalf("decrypted with %s: %d bytes differ from the %d written", name, len(got), len(plain))
					}
				}
			})
		}
	}
}

// TestEncryptReader: the pull-model encryption gives an age file of the
// size Encrypt's gives, which decrypts to the plaintext, read in odd sizes
// that cross chunk boundaries; a source error comes through as is.
func TestEncryptReader(t *testing.T) {
	for _, set := range recipientSets {
		rs := recipientsOf(t, set.keys...)
		for _, size := range roundTripSizes {
			plain := plaintext(size)
			t.Run(set.name+"/"+sizeName(size), func(t *testing.T) {
				r, err := EncryptReader(onlyReader{bytes.NewReader(plain)}, rs)
				if err != nil {
					t.Fatalf("EncryptReader: %v", err)
				}
				var file bytes.Buffer
				if _, err := io.CopyBuffer(&file, onlyReader{r}, make([]byte, 7001)); err != nil {
					t.Fatalf("read: %v", err)
				}
				if want, err := EncryptedSize(rs, int64(size)); err != nil || int64(file.Len()) != want {
					t.Errorf("EncryptReader gave %d bytes; EncryptedSize = %d, %v", file.Len(), want, err)
				}
				got, err := Decrypt(bytes.NewReader(file.Bytes()), identityOf(t, set.keys[0]))
				if err != nil {
					t.Fatalf("Decrypt: %v", err)
				}
				back, err := io.ReadAll(got)
				if err != nil || !bytes.Equal(back, plain) {
					t.Fatalf("decrypted %d bytes (%v), want the %d read", len(back), err, len(plain))
				}
			})
		}
	}
	readErr := errors.New("connection reset")
	r, err := EncryptReader(io.MultiReader(bytes.NewReader(plaintext(100)), errReader{readErr}), recipientsOf(t, "x25519"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, readErr) {
		t.Errorf("EncryptReader with a failing source = %v, want %v", err, readErr)
	}
	if _, err := EncryptReader(bytes.NewReader(nil), nil); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("EncryptReader with no recipients = %v, want ErrNoRecipients", err)
	}
}

func TestEncryptDigest(t *testing.T) {
	for _, set := range recipientSets {
		rs := recipientsOf(t, set.keys...)
		for _, size := range roundTripSizes {
			plain := plaintext(size)
			t.Run(set.name+"/"+sizeName(size), func(t *testing.T) {
				var file bytes.Buffer
				// iotest-style one-byte-then-rest reads must not change the output.
				d, err := EncryptDigest(&file, io.MultiReader(bytes.NewReader(plain[:min(1, size)]), bytes.NewReader(plain[min(1, size):])), rs)
				if err != nil {
					t.Fatalf("EncryptDigest: %v", err)
				}
				want := Digests{PlainSHA256: sha256.Sum256(plain), PlainSize: int64(size),
					CipherSHA256: sha256.Sum256(file.Bytes()), CipherSize: int64(file.Len())}
				if d != want {
					t.Errorf("EncryptDigest = %+v, want %+v", d, want)
				}
				if size, err := EncryptedSize(rs, int64(size)); err != nil || size != d.CipherSize {
					t.Errorf("EncryptedSize = %d, %v; EncryptDigest wrote %d", size, err, d.CipherSize)
				}
				var back bytes.Buffer
				got, err := DecryptDigest(&back, bytes.NewReader(file.Bytes()), identityOf(t, set.keys[0]))
				if err != nil {
					t.Fatalf("DecryptDigest: %v", err)
				}
				if got != d {
					t.Errorf("DecryptDigest = %+v, want %+v", got, d)
				}
				if !bytes.Equal(back.Bytes(), plain) {
					t.Errorf("DecryptDigest wrote %d bytes that differ from the plaintext", back.Len())
				}
			})
		}
	}
}

func TestEncryptDigestErrors(t *testing.T) {
	rs := recipientsOf(t, "x25519")
	readErr := errors.New("connection reset")
	_, err := EncryptDigest(io.Discard, io.MultiReader(bytes.NewReader(plaintext(100)), errReader{readErr}), rs)
	if !errors.Is(err, readErr) {
		t.Errorf("EncryptDigest with a failing source = %v, want it to wrap %v", err, readErr)
	}
	writeErr := errors.New("upload aborted")
	_, err = EncryptDigest(&failAfter{n: 1000, err: writeErr}, bytes.NewReader(plaintext(1<<20)), rs)
	if !errors.Is(err, writeErr) {
		t.Errorf("EncryptDigest with a failing destination = %v, want it to wrap %v", err, writeErr)
	}
	if _, err := EncryptDigest(io.Discard, bytes.NewReader(nil), nil); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("EncryptDigest with no recipients = %v, want ErrNoRecipients", err)
	}
}

func TestEncryptNoRecipients(t *testing.T) {
	if _, err := Encrypt(io.Discard, nil); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("Encrypt(nil recipients) = %v, want ErrNoRecipients", err)
	}
	if _, err := HeaderSize(nil); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("HeaderSize(nil) = %v, want ErrNoRecipients", err)
	}
	if _, err := EncryptedSize(recipientsOf(t, "x25519"), -1); err == nil {
		t.Error("EncryptedSize(-1) succeeded")
	}
	if _, err := Decrypt(bytes.NewReader(nil), nil); !errors.Is(err, ErrNoIdentities) {
		t.Errorf("Decrypt(nil identities) = %v, want ErrNoIdentities", err)
	}
	if _, err := Decrypt(bytes.NewReader(nil), []Identity{{}}); err == nil {
		t.Error("Decrypt with a zero Identity succeeded")
	}
}

func TestCiphertextSize(t *testing.T) {
	const h = 200
	for _, tc := range []struct{ plain, want int64 }{
		{0, h + 16},
		{1, h + 1 + 16},
		{payloadChunk, h + payloadChunk + 16},
		{payloadChunk + 1, h + payloadChunk + 1 + 32},
		{10 * payloadChunk, h + 10*payloadChunk + 160},
		{1 << 40, h + 1<<40 + (1<<40/payloadChunk)*16},
	} {
		if got := CiphertextSize(h, tc.plain); got != tc.want {
			t.Errorf("CiphertextSize(%d, %d) = %d, want %d", h, tc.plain, got, tc.want)
		}
	}
}

func sizeName(n int) string {
	switch n {
	case 0:
		return "empty"
	case 1:
		return "1B"
	case payloadChunk:
		return "chunk"
	case payloadChunk + 1:
		return "chunk+1"
	case 2 * payloadChunk:
		return "2chunks"
	}
	return "multiMiB"
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		n := f.n
		f.n = 0
		return n, f.err
	}
	f.n -= len(p)
	return len(p), nil
}
