package crypto

import (
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

const (
	// payloadChunk is age's STREAM chunk size; each chunk adds a 16-byte tag.
	payloadChunk = 64 << 10
	chunkTag     = 16
)

// CiphertextSize returns the exact size of an age file whose header is
// headerLen bytes and whose plaintext is plainSize bytes (plainSize >= 0).
// headerLen counts every byte Encrypt writes before the first payload chunk:
// the header and the 16-byte payload nonce; HeaderSize returns it.
func CiphertextSize(headerLen, plainSize int64) int64 {
	chunks := (plainSize + payloadChunk - 1) / payloadChunk
	if chunks == 0 {
		chunks = 1 // an empty file still has one (empty, final) chunk
	}
	return headerLen + plainSize + chunks*chunkTag
}

// HeaderSize returns how many bytes Encrypt writes to dst for these
// recipients before the payload (the header and the payload nonce). It
// wraps a throwaway file key to measure: for every recipient type
// ParseRecipient accepts, the stanzas have a fixed length for a given key, so
// the result holds for every later Encrypt to the same list.
func HeaderSize(recipients []Recipient) (int64, error) {
	if len(recipients) == 0 {
		return 0, ErrNoRecipients
	}
	var c countWriter
	if _, err := age.Encrypt(&c, ageRecipients(recipients)...); err != nil {
		return 0, fmt.Errorf("age header size: %w", err)
	}
	return c.n, nil
}

// EncryptedSize returns the exact size of the age file that Encrypt (or
// EncryptDigest) writes for plainSize bytes to recipients, so that it can be
// uploaded with a known Content-Length before it is produced.
func EncryptedSize(recipients []Recipient, plainSize int64) (int64, error) {
	if plainSize < 0 {
		return 0, errors.New("age encrypted size: negative plaintext size")
	}
	h, err := HeaderSize(recipients)
	if err != nil {
		return 0, err
	}
	return CiphertextSize(h, plainSize), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countWriter)(nil)
