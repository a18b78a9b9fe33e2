package crypto

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

var (
	// ErrWrongIdentity: none of the given identities can open the file.
	ErrWrongIdentity = errors.New("no identity matches the file's recipients")
	// ErrCorrupt: the file is not a well-formed age file, or its payload fails
	// authentication (a flipped bit, a truncation, a splice).
	ErrCorrupt = errors.New("age file is corrupt or truncated")
)

// Encrypt returns a WriteCloser that encrypts what is written to it and writes
// the standard age format to dst, chunk by chunk (64 KiB), never holding more.
// The caller must call Close to write the last chunk; without it the file is
// truncated and will not decrypt.
func Encrypt(dst io.Writer, recipients []Recipient) (io.WriteCloser, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	w, err := age.Encrypt(dst, ageRecipients(recipients)...)
	if err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	return w, nil
}

// Decrypt returns a Reader of the plaintext of the age file in src. Header
// problems are reported here; payload problems are reported by Read, wrapping
// ErrCorrupt. Plaintext is released only after its chunk authenticates, so a
// reader that reaches io.EOF has seen the whole, authentic file.
func Decrypt(src io.Reader, identities []Identity) (io.Reader, error) {
	if len(identities) == 0 {
		return nil, ErrNoIdentities
	}
	r, err := age.Decrypt(src, ageIdentities(identities)...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongIdentity
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return &corruptReader{r: r}, nil
}

// corruptReader marks payload failures with ErrCorrupt so callers can tell
// tampering from I/O errors of the source with errors.Is.
type corruptReader struct{ r io.Reader }

func (c *corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}

// payloadChunk is age's STREAM chunk size; each chunk adds a 16-byte tag.
const payloadChunk = 64 << 10

// CiphertextSize returns the exact size of an age file with a header of
// headerLen bytes (including the 16-byte payload nonce) holding plainSize
// bytes. It lets a sealer upload with a known Content-Length.
func CiphertextSize(headerLen, plainSize int64) int64 {
	chunks := (plainSize + payloadChunk - 1) / payloadChunk
	if chunks == 0 {
		chunks = 1 // an empty file still has one (empty, final) chunk
	}
	return headerLen + plainSize + chunks*16
}
