package testbed

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// storeWrong plays a server that skips its checksum checks: it takes the
// client's whole PUT, stores what wrong makes of its payload under the
// same key (with the same object lock and conditional create) through
// FaultOptions.Direct, and answers 200 as if the object were whole. The
// client sees success; the server holds another object, possibly locked.
func (p *FaultProxy) storeWrong(w http.ResponseWriter, r *http.Request, wrong func([]byte) []byte) {
	payload, err := readPayload(r)
	if err != nil {
		answerError(w, http.StatusBadRequest, "IncompleteBody", "fault proxy: "+err.Error())
		return
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	// The server computes the checksum it keeps from what it stored, as
	// one that skipped comparing it with the client's would.
	stored := wrong(payload)
	sum := crc32.Checksum(stored, crc32.MakeTable(crc32.Castagnoli))
	opts := minio.PutObjectOptions{UserMetadata: map[string]string{
		minio.ChecksumCRC32C.Key(): base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, sum)),
	}}
	if mode := r.Header.Get("X-Amz-Object-Lock-Mode"); mode != "" {
		until, err := time.Parse(time.RFC3339, r.Header.Get("X-Amz-Object-Lock-Retain-Until-Date"))
		if err != nil {
			answerError(w, http.StatusBadRequest, "InvalidArgument", "fault proxy: retain-until: "+err.Error())
			return
		}
		opts.Mode, opts.RetainUntilDate = minio.RetentionMode(mode), until
	}
	if r.Header.Get("If-None-Match") == "*" {
		opts.SetMatchETagExcept("*")
	}
	core := minio.Core{Client: p.direct} // one PUT, headers as given
	info, err := core.PutObject(r.Context(), bucket, key, bytes.NewReader(stored), int64(len(stored)), "", "", opts)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == 0 {
			resp.StatusCode, resp.Code, resp.Message = http.StatusBadGateway, "BadGateway", "fault proxy: "+err.Error()
		}
		answerError(w, resp.StatusCode, resp.Code, resp.Message)
		return
	}
	w.Header().Set("ETag", `"`+info.ETag+`"`)
	w.WriteHeader(http.StatusOK)
}

// halve keeps the first half of a payload.
func halve(b []byte) []byte { return b[:len(b)/2] }

// flipLast flips the low bit of a payload's last byte, keeping its size.
func flipLast(b []byte) []byte {
	if len(b) > 0 {
		b[len(b)-1] ^= 1
	}
	return b
}

// readPayload reads a PUT's body and returns its payload, decoding S3's
// aws-chunked encoding (chunks of "hex-size[;chunk-signature=...]\r\n",
// data, "\r\n", ended by a zero chunk and trailers) when the request uses it.
func readPayload(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return raw, nil
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []byte
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("aws-chunked: chunk size %q", sizeHex)
		}
		if n == 0 {
			return out, nil
		}
		chunk := make([]byte, n+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		if !bytes.HasSuffix(chunk, []byte("\r\n")) {
			return nil, errors.New("aws-chunked: chunk not ended by CRLF")
		}
		out = append(out, chunk[:n]...)
	}
}
