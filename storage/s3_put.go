package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// errBodySize reports a body whose length differs from PutOptions.Size.
// Such a Put stores nothing, and retrying cannot help.
var errBodySize = errors.New("body length differs from the declared size")

// abortTimeout bounds the clean-up of a failed multipart upload.
const abortTimeout = 30 * time.Second

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// emptyCRC32C is the base64 CRC32C of no bytes.
const emptyCRC32C = "AAAAAA=="

// Put streams r to key.
//
// A known size (opts.Size >= 0) up to MaxSinglePutSize goes in one PUT
// straight from r: nothing is buffered, and a CRC32C computed while streaming
// travels as a trailer (no MD5, no SHA-256 of the body). r must then yield
// exactly opts.Size bytes; a shorter or longer body fails the Put before the
// server stores anything.
//
// An unknown size (-1), or a known one above MaxSinglePutSize, is read a part
// at a time (Config.PartSize, larger when 10,000 parts would not hold a known
// size), so memory is about one part. A body that fits in the first part is
// still sent in one PUT; a longer one becomes a multipart upload in which
// every part carries its CRC32C and a failed part is retried from memory
// under DefaultRetryPolicy. A failed multipart upload is aborted.
//
// With opts.IfAbsent the put is a conditional create (If-None-Match: *, on
// the final request of a multipart upload) and fails with ErrExists when the
// key is taken.
//
// Once the server accepted it, a HEAD checks what it stored: another size,
// or a full-object CRC32C that is not the body's, is ErrStoredWrong (a
// server that skipped its checksum check kept a body cut or changed on the
// way). ObjectInfo.LastModified is zero: S3 does not return it on
// PUT.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (ObjectInfo, error) {
	obj, err := s.object(key)
	if err == nil {
		err = checkPutOptions(opts)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	sent := newCRCReader(r)
	r = sent
	if opts.Size >= 0 {
		r = &sizedReader{r: r, left: opts.Size, size: opts.Size}
	}
	var info minio.UploadInfo
	if opts.Size >= 0 && opts.Size <= s.maxSinglePut {
		info, err = s.putSingle(ctx, obj, r, opts.Size, opts)
	} else {
		info, err = s.putParts(ctx, obj, r, opts)
	}
	if err != nil {
		if opts.IfAbsent && s.takenMeanwhile(ctx, key, err) {
			return ObjectInfo{}, fmt.Errorf("put %s: %w (the connection broke; the key exists now)", key, ErrExists)
		}
		return ObjectInfo{}, s.wrapErr("put", key, err, opts.IfAbsent)
	}
	if err := s.checkStored(ctx, key, sent, opts.IfAbsent); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	return ObjectInfo{Key: key, Size: info.Size, ETag: info.ETag}, nil
}

// takenMeanwhile tells a conditional create that lost a race from a broken
// connection. A server may answer 412 as soon as it reads the headers and
// close the connection while the client still sends the body; the client
// then sees only "connection reset". If the key exists afterwards, the put
// is reported as ErrExists, which is what the caller must act on.
func (s *S3) takenMeanwhile(ctx context.Context, key string, err error) bool {
	if minio.ToErrorResponse(err).Code != "" || ctx.Err() != nil {
		return false // the server answered, or we gave up: nothing to guess
	}
	_, statErr := s.Stat(ctx, key)
	return statErr == nil
}

func checkPutOptions(opts PutOptions) error {
	switch {
	case opts.Size < -1:
		return fmt.Errorf("size %d: must be -1 (unknown) or more", opts.Size)
	case (opts.LockMode == "") != opts.RetainUntil.IsZero():
		return errors.New("lock mode and retain-until must be set together")
	case opts.LockMode != "" && opts.LockMode != LockGovernance && opts.LockMode != LockCompliance:
		return fmt.Errorf("lock mode %q: must be %s or %s", opts.LockMode, LockGovernance, LockCompliance)
	}
	return nil
}

// putObjectOptions returns the minio-go options of the request that creates
// the object (the PUT, or the multipart upload's initiation).
func (s *S3) putObjectOptions(opts PutOptions) minio.PutObjectOptions {
	po := minio.PutObjectOptions{
		ContentType:  opts.ContentType,
		StorageClass: s.storage,
		// The payload is not signed (no SHA-256 pass over the body); its
		// integrity rides on the CRC32C checksum instead.
		DisableContentSha256: true,
	}
	if opts.LockMode != "" {
		po.Mode = minio.RetentionMode(opts.LockMode)
		po.RetainUntilDate = opts.RetainUntil.UTC()
	}
	return po
}

// putSingle sends body in one PUT with a streamed CRC32C trailer.
func (s *S3) putSingle(ctx context.Context, obj string, body io.Reader, size int64, opts PutOptions) (minio.UploadInfo, error) {
	po := s.putObjectOptions(opts)
	// S3 wants a checksum on every object-lock PUT (Content-MD5 or
	// x-amz-checksum-*): a CRC32C trailer, announced like AWS SDKs do, or
	// for an empty body (which gets no trailer) the value itself.
	if size > 0 {
		po.Checksum = minio.ChecksumCRC32C
		po.UserMetadata = map[string]string{"X-Amz-Sdk-Checksum-Algorithm": minio.ChecksumCRC32C.String()}
	} else {
		po.UserMetadata = map[string]string{minio.ChecksumCRC32C.Key(): emptyCRC32C}
	}
	if opts.IfAbsent {
		po.SetMatchETagExcept("*")
	}
	// Core.PutObject is exactly one request: no MD5 pass, no buffering, no
	// hidden multipart switch.
	return s.core.PutObject(ctx, s.bucket, obj, body, size, "", "", po)
}

// putParts reads r a part at a time: one PUT when it fits in one part, else
// a multipart upload.
func (s *S3) putParts(ctx context.Context, obj string, r io.Reader, opts PutOptions) (minio.UploadInfo, error) {
	partSize := s.partSize
	if opts.Size > 0 {
		if need := (opts.Size + maxParts - 1) / maxParts; need > partSize {
			partSize = (need + 1<<20 - 1) &^ (1<<20 - 1) // whole MiB
		}
		if partSize > MaxPartSize {
			return minio.UploadInfo{}, fmt.Errorf("size %d: larger than S3 allows in one object", opts.Size)
		}
	}
	buf := make([]byte, partSize)
	n, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if opts.Size >= 0 && int64(n) != opts.Size {
			return minio.UploadInfo{}, fmt.Errorf("%w: declared %d bytes, read %d", errBodySize, opts.Size, n)
		}
		return s.putSingle(ctx, obj, bytes.NewReader(buf[:n]), int64(n), opts)
	case err != nil:
		return minio.UploadInfo{}, fmt.Errorf("read body: %w", err)
	}
	// The first part is full: one byte more decides between one PUT and
	// multipart, so a body of exactly one part is not a one-part upload.
	var peek [1]byte
	m, err := io.ReadFull(r, peek[:])
	switch {
	case m == 0 && errors.Is(err, io.EOF):
		if opts.Size >= 0 && int64(n) != opts.Size {
			return minio.UploadInfo{}, fmt.Errorf("%w: declared %d bytes, read %d", errBodySize, opts.Size, n)
		}
		return s.putSingle(ctx, obj, bytes.NewReader(buf), int64(n), opts)
	case err != nil:
		return minio.UploadInfo{}, fmt.Errorf("read body: %w", err)
	}
	return s.putMultipart(ctx, obj, io.MultiReader(bytes.NewReader(peek[:]), r), buf, opts)
}

// putMultipart uploads buf (a full first part) and the rest of r as a
// multipart upload, reusing buf for every part.
func (s *S3) putMultipart(ctx context.Context, obj string, r io.Reader, buf []byte, opts PutOptions) (info minio.UploadInfo, err error) {
	po := s.putObjectOptions(opts)
	po.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": minio.ChecksumCRC32C.String()}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.bucket, obj, po)
	if err != nil {
		return minio.UploadInfo{}, err
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			// Retried: an upload left incomplete keeps its parts (for a
			// staging location, plaintext) until a lifecycle rule ends it.
			_ = s.partRetry.do(actx, func() error { return s.core.AbortMultipartUpload(actx, s.bucket, obj, uploadID) })
		}
	}()

	var parts []minio.CompletePart
	var total int64
	n := len(buf)
	for {
		part, err := s.putPart(ctx, obj, uploadID, len(parts)+1, buf[:n])
		if err != nil {
			return minio.UploadInfo{}, err
		}
		parts = append(parts, part)
		total += int64(n)
		if opts.Size >= 0 && total == opts.Size {
			if err := expectEOF(r, opts.Size); err != nil {
				return minio.UploadInfo{}, err
			}
			break
		}
		var rerr error
		n, rerr = io.ReadFull(r, buf)
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			return minio.UploadInfo{}, fmt.Errorf("read body: %w", rerr)
		}
		if len(parts) == maxParts {
			return minio.UploadInfo{}, fmt.Errorf("body exceeds %d parts of %d bytes", maxParts, len(buf))
		}
	}
	if opts.Size >= 0 && total != opts.Size {
		return minio.UploadInfo{}, fmt.Errorf("%w: declared %d bytes, read %d", errBodySize, opts.Size, total)
	}

	var co minio.PutObjectOptions
	if opts.IfAbsent {
		co.SetMatchETagExcept("*")
	}
	info, err = s.core.CompleteMultipartUpload(ctx, s.bucket, obj, uploadID, parts, co)
	if err != nil {
		return minio.UploadInfo{}, err
	}
	info.Size = total
	return info, nil
}

// putPart uploads one part with its CRC32C, retrying transient failures.
func (s *S3) putPart(ctx context.Context, obj, uploadID string, number int, data []byte) (minio.CompletePart, error) {
	sum := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, crc32c)))
	hdr := http.Header{}
	hdr.Set("X-Amz-Checksum-Crc32c", sum)
	hdr.Set("X-Amz-Checksum-Algorithm", minio.ChecksumCRC32C.String())
	var part minio.ObjectPart
	err := s.partRetry.do(ctx, func() error {
		body := newAttemptBody(bytes.NewReader(data)) // data is refilled with the next part
		defer body.end()
		var err error
		part, err = s.core.PutObjectPart(ctx, s.bucket, obj, uploadID, number,
			body, int64(len(data)), minio.PutObjectPartOptions{CustomHeader: hdr, DisableContentSha256: true})
		return err
	})
	if err != nil {
		return minio.CompletePart{}, fmt.Errorf("part %d: %w", number, err)
	}
	if part.ChecksumCRC32C == "" {
		part.ChecksumCRC32C = sum
	}
	return minio.CompletePart{PartNumber: number, ETag: part.ETag, ChecksumCRC32C: part.ChecksumCRC32C}, nil
}

// expectEOF fails when r holds more than the declared size.
func expectEOF(r io.Reader, size int64) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	if n > 0 {
		return fmt.Errorf("%w: declared %d bytes, the body is longer", errBodySize, size)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// sizedReader passes through exactly size bytes of r and fails, instead of
// delivering the last bytes or EOF, when r is shorter or longer. A failed
// read aborts the request, so the server stores nothing.
type sizedReader struct {
	r          io.Reader
	left, size int64
}

func (z *sizedReader) Read(p []byte) (int, error) {
	if z.left == 0 {
		if err := expectEOF(z.r, z.size); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > z.left {
		p = p[:z.left]
	}
	n, err := z.r.Read(p)
	z.left -= int64(n)
	switch {
	case z.left == 0:
		// Check for excess now, with the last bytes: the request must
		// fail before the server has the whole declared length.
		if err := expectEOF(z.r, z.size); err != nil {
			return 0, err
		}
		return n, nil
	case errors.Is(err, io.EOF):
		return n, fmt.Errorf("%w: declared %d bytes, read %d", errBodySize, z.size, z.size-z.left)
	}
	return n, err
}
