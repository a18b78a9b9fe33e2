package storage

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// ErrStoredWrong: a Put the server accepted stored an object other than
// the one sent (another size, or a full-object checksum that is not the
// body's). A server that skips checksum checks can do this when a body is
// cut or changed on its way; the client sees success. The object is there,
// and may be locked: the caller decides whether it can be removed.
var ErrStoredWrong = errors.New("the server stored an object other than the one sent")

// ErrRemovedWrong: what a Put stored wrong was removed (RemoveStoredWrong),
// and writing it again may succeed. It is retryable.
var ErrRemovedWrong = errors.New("it was removed, to be written again")

// RemoveStoredWrong removes every version of key after a Put that stored it
// wrong (err wraps ErrStoredWrong) and returns an error wrapping
// ErrRemovedWrong, so the write is tried again. When object lock keeps it,
// err is returned as it is: nothing can remove or replace it before the
// lock ends. Other failures to remove it are returned, err as detail.
func RemoveStoredWrong(ctx context.Context, st Store, key string, err error) error {
	_, perr := PurgeKey(ctx, st, key)
	switch {
	case perr == nil:
		// Not %w: ErrStoredWrong is permanent, and this is not.
		return fmt.Errorf("%v; %w", err, ErrRemovedWrong) //nolint:errorlint // see above
	case errors.Is(perr, ErrLocked):
		return err
	}
	return fmt.Errorf("%v; removing it: %w", err, perr) //nolint:errorlint // as above; perr says whether to retry
}

// crcReader computes the CRC32C of, and counts, what is read through it.
type crcReader struct {
	r io.Reader
	h hash.Hash32
	n int64
}

func newCRCReader(r io.Reader) *crcReader { return &crcReader{r: r, h: crc32.New(crc32c)} }

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// sum is the base64 CRC32C of what was read, as S3 reports checksums.
func (c *crcReader) sum() string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, c.h.Sum32()))
}

// checkAttempts bounds the HEADs of a check; the PUT is not repeated.
const checkAttempts = 3

// checkStored asks the server what it stored under key after a Put it
// accepted (a HEAD with x-amz-checksum-mode: ENABLED) and compares it with
// what was sent: the size always, the CRC32C when the server reports a
// full-object one (a multipart object's is a checksum of checksums).
//
// A HEAD that keeps failing leaves the object unchecked. A conditional
// create then reports ErrExists, as for a lost answer: its caller reads
// back what is there before using it. Any other Put returns the error, and
// is written again when retried.
func (s *S3) checkStored(ctx context.Context, key string, sent *crcReader, ifAbsent bool) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	var oi minio.ObjectInfo
	for attempt, backoff := 1, 100*time.Millisecond; ; attempt, backoff = attempt+1, backoff*2 {
		oi, err = s.client.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{Checksum: true})
		if err == nil || attempt == checkAttempts || IsPermanent(err) || sleep(ctx, backoff) != nil {
			break
		}
	}
	switch {
	case err != nil && ifAbsent:
		return fmt.Errorf("%w (stored, but what was stored could not be checked: %w)", ErrExists, s.wrapErr("stat", key, err, false))
	case err != nil:
		return fmt.Errorf("check what was stored: %w", s.wrapErr("stat", key, err, false))
	}
	info := s.info(oi)
	var wrong string
	switch got := oi.ChecksumCRC32C; {
	case oi.Size != sent.n:
		wrong = fmt.Sprintf("%d bytes stored, %d sent", oi.Size, sent.n)
	case got != "" && !strings.Contains(got, "-") && got != sent.sum():
		wrong = fmt.Sprintf("CRC32C %s stored, %s sent", got, sent.sum())
	default:
		return nil
	}
	if !info.RetainUntil.IsZero() {
		wrong += fmt.Sprintf("; it is locked (%s) until %s", info.LockMode, info.RetainUntil.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%w: %s", ErrStoredWrong, wrong)
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
