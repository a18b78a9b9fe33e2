package storage_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestPutChecksStored plays, through the fault proxy, a server that skips
// its checksum checks and stores a PUT's payload cut in half, or with one
// bit flipped, while answering 200. Put must not report success: it is
// ErrStoredWrong, naming what was stored and the lock that now holds it.
// A whole PUT through the same proxy passes the check, single and
// multipart.
func TestPutChecksStored(t *testing.T) {
	if testing.Short() {
		t.Skip("needs VersityGW")
	}
	srv := startS3(t)
	proxy := testbed.StartFaultProxy(t, srv.Endpoint, testbed.FaultOptions{Seed: 1, Direct: srv.Minio(t)})
	cfg := srv.Config(lockedBucket, "check")
	cfg.Endpoint, cfg.PartSize = proxy.Endpoint, 5<<20
	st := newS3(t, cfg)
	lock := storage.PutOptions{IfAbsent: true, LockMode: storage.LockGovernance, RetainUntil: time.Now().Add(time.Hour)}
	body := streamBytes(7, 300<<10)
	for _, tc := range []struct {
		kind testbed.FaultKind
		want string
	}{
		{testbed.FaultStoreShort, "153600 bytes stored, 307200 sent"},
		{testbed.FaultStoreFlipped, "CRC32C"},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			proxy.SetRules(testbed.FaultRule{Kind: tc.kind, Ops: []testbed.S3Op{testbed.OpPut}, Rate: 1})
			defer proxy.SetRules()
			for _, size := range []int64{int64(len(body)), -1} {
				key := string(tc.kind) + map[bool]string{true: "-sized", false: "-unsized"}[size >= 0]
				opts := lock
				opts.Size = size
				_, err := st.Put(t.Context(), key, bytes.NewReader(body), opts)
				if !errors.Is(err, storage.ErrStoredWrong) {
					t.Fatalf("put %s: %v, want ErrStoredWrong", key, err)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "locked (GOVERNANCE) until") {
					t.Fatalf("put %s: %v: does not say %q and the lock", key, err, tc.want)
				}
				if !storage.IsPermanent(err) {
					t.Fatalf("put %s: %v is retryable: a retry of a conditional create finds the key taken", key, err)
				}
				t.Logf("%s: %v", key, err)
			}
		})
	}
	if n := proxy.Injected(); n[testbed.FaultStoreShort] != 2 || n[testbed.FaultStoreFlipped] != 2 {
		t.Fatalf("faults injected %v, want 2 of each", n)
	}
	big := streamBytes(8, 11<<20) // multipart: the server reports a checksum of checksums, checked by size
	for _, size := range []int64{int64(len(big)), -1, 100} {
		key := "whole-" + map[bool]string{true: "sized", false: "unsized"}[size >= 0]
		data := big
		if size == 100 {
			key, data = "whole-small", big[:100]
		}
		if _, err := st.Put(t.Context(), key, bytes.NewReader(data), storage.PutOptions{Size: size, IfAbsent: true}); err != nil {
			t.Fatalf("whole put %s: %v", key, err)
		}
	}
}
