package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/storage"
)

// stream is n pseudo-random bytes as a reader that is neither a Seeker nor
// a ReaderAt, like an encryption pipe.
func stream(seed byte, n int64) io.Reader {
	return struct{ io.Reader }{io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)}
}

func streamBytes(seed byte, n int64) []byte {
	b, err := io.ReadAll(stream(seed, n))
	if err != nil {
		panic(err)
	}
	return b
}

// allocated returns the bytes f allocates on the Go heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestPutMemory checks the streaming claims: a known-size Put buffers
// nothing, an unknown-size one about one part.
func TestPutMemory(t *testing.T) {
	srv := startS3(t)
	const mib = 1 << 20
	for _, tc := range []struct {
		name     string
		size     int64
		declared int64
		partSize int64
		maxAlloc uint64
	}{
		{name: "known-48MiB-single-put", size: 48 * mib, declared: 48 * mib, maxAlloc: 4 * mib},
		{name: "unknown-48MiB-8MiB-parts", size: 48 * mib, declared: -1, partSize: 8 * mib, maxAlloc: 8*mib + 4*mib},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := srv.Config(plainBucket, "mem")
			cfg.PartSize = tc.partSize
			s := newS3(t, cfg)
			var err error
			start := time.Now()
			n := allocated(func() {
				_, err = s.Put(t.Context(), tc.name, stream(1, tc.size), storage.PutOptions{Size: tc.declared})
			})
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			t.Logf("%s: %.1f MiB/s, %.2f MiB allocated", tc.name,
				float64(tc.size)/mib/time.Since(start).Seconds(), float64(n)/mib)
			if n > tc.maxAlloc {
				t.Fatalf("Put of %d bytes allocated %d bytes, want at most %d", tc.size, n, tc.maxAlloc)
			}
		})
	}
}

// TestPutChecksums checks that every Put sends a CRC32C the server stores:
// a full-object one for a single PUT, a composite one for multipart.
func TestPutChecksums(t *testing.T) {
	srv := startS3(t)
	cfg := srv.Config(plainBucket, "sums")
	cfg.PartSize = storage.MinPartSize
	s := newS3(t, cfg)
	mc := srv.Minio(t)
	table := crc32.MakeTable(crc32.Castagnoli)
	crc := func(b []byte) string {
		return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, table)))
	}

	small := streamBytes(2, 100_000)
	if _, err := s.Put(t.Context(), "single", stream(2, int64(len(small))), storage.PutOptions{Size: int64(len(small))}); err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(t.Context(), plainBucket, "sums/single", minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChecksumCRC32C != crc(small) {
		t.Fatalf("single PUT: stored CRC32C %q, want %q (the trailer did not arrive)", st.ChecksumCRC32C, crc(small))
	}

	if _, err := s.Put(t.Context(), "empty", strings.NewReader(""), storage.PutOptions{Size: 0}); err != nil {
		t.Fatal(err)
	}
	st, err = mc.StatObject(t.Context(), plainBucket, "sums/empty", minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChecksumCRC32C != crc(nil) {
		t.Fatalf("empty PUT: stored CRC32C %q, want %q", st.ChecksumCRC32C, crc(nil))
	}

	const size = 2*storage.MinPartSize + 10
	if _, err := s.Put(t.Context(), "multi", stream(3, size), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	st, err = mc.StatObject(t.Context(), plainBucket, "sums/multi", minio.StatObjectOptions{Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(st.ChecksumCRC32C, "-3") {
		t.Fatalf("multipart: stored CRC32C %q, want a composite checksum of 3 parts", st.ChecksumCRC32C)
	}
}

// TestGetVerifiesChecksum tampers with a stored object behind the server's
// back: reading it through Get must fail, not return the changed bytes.
func TestGetVerifiesChecksum(t *testing.T) {
	srv := startS3(t)
	s := newS3(t, srv.Config(plainBucket, "tamper"))
	data := streamBytes(4, 300_000)
	if _, err := s.Put(t.Context(), "obj", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(srv.Dir, plainBucket, "tamper", "obj")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("open the stored file: %v", err)
	}
	if _, err := f.WriteAt([]byte{data[1000] ^ 0xff}, 1000); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	rc, _, err := s.Get(t.Context(), "obj")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer func() { _ = rc.Close() }() // read-only
	got, err := io.ReadAll(rc)
	if err == nil {
		if sha256.Sum256(got) == sha256.Sum256(data) {
			t.Fatal("tampering did not change the stored bytes")
		}
		t.Fatal("Get of a tampered object read to the end without an error")
	}
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("tampered read: %v, want it to wrap ErrCorrupt", err)
	}
	if storage.IsPermanent(err) {
		t.Fatal("ErrCorrupt is permanent: a read damaged in transit would never be tried again")
	}
	t.Logf("tampered read fails: %v", err)
}

// TestPutBodyErrors: a failing body fails the Put, permanently for a size
// mismatch, and stores nothing.
func TestPutBodyErrors(t *testing.T) {
	srv := startS3(t)
	s := newS3(t, srv.Config(plainBucket, "bodyerr"))
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		size int64
	}{{"known", 1 << 20}, {"unknown", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			r := io.MultiReader(stream(5, 1000), iotestErr(boom))
			_, err := s.Put(t.Context(), tc.name, r, storage.PutOptions{Size: tc.size})
			if !errors.Is(err, boom) {
				t.Fatalf("Put with a failing body: %v, want it to wrap the body's error", err)
			}
			if _, err := s.Stat(t.Context(), tc.name); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("after a failed Put, Stat: %v, want ErrNotFound", err)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func iotestErr(err error) io.Reader { return errReader{err} }

// TestPutKnownSizeMultipart drives the path of known sizes above the
// single-PUT limit (lowered here): multipart, and strict about the size.
func TestPutKnownSizeMultipart(t *testing.T) {
	srv := startS3(t)
	cfg := srv.Config(plainBucket, "bigknown")
	cfg.PartSize = storage.MinPartSize
	s := newS3(t, cfg)
	storage.SetMaxSinglePut(s, storage.MinPartSize)
	const size = 2*storage.MinPartSize + 777
	for _, tc := range []struct {
		name string
		real int64
		ok   bool
	}{
		{"exact", size, true},
		{"shorter", size - 1, false},
		{"longer", size + 1, false},
		{"longer-by-a-part", size + storage.MinPartSize, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := s.Put(t.Context(), tc.name, stream(6, tc.real), storage.PutOptions{Size: size})
			if !tc.ok {
				if err == nil || !storage.IsPermanent(err) {
					t.Fatalf("Put of %d bytes declared as %d: %v, want a permanent error", tc.real, int64(size), err)
				}
				if _, err := s.Stat(t.Context(), tc.name); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("after a failed Put, Stat: %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if !strings.HasSuffix(info.ETag, "-3") || info.Size != size {
				t.Fatalf("Put = %+v, want 3 parts and size %d", info, int64(size))
			}
			rc, _, err := s.Get(t.Context(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rc.Close() }() // read-only
			got, _ := io.ReadAll(rc)
			if !bytes.Equal(got, streamBytes(6, size)) {
				t.Fatal("Get differs from what was put")
			}
		})
	}
}

// A conditional create of a large body that loses to an existing key may see
// the server's early 412 only as a reset connection; it must still report
// ErrExists, and leave the first object as it was.
func TestPutIfAbsentLargeBodyTaken(t *testing.T) {
	srv := startS3(t)
	s := newS3(t, srv.Config(plainBucket, "taken"))
	const size = 48 << 20
	first, err := s.Put(t.Context(), "big", stream(7, size), storage.PutOptions{Size: size, IfAbsent: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := s.Put(t.Context(), "big", stream(8, size), storage.PutOptions{Size: size, IfAbsent: true})
		if !errors.Is(err, storage.ErrExists) {
			t.Fatalf("attempt %d: second conditional create: %v, want ErrExists", i, err)
		}
	}
	info, err := s.Stat(t.Context(), "big")
	if err != nil || info.ETag != first.ETag {
		t.Fatalf("after the refused creates: %+v, %v; want ETag %s", info, err, first.ETag)
	}
}
