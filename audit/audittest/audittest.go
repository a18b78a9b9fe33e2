// Package audittest builds audit logs on a real S3 server (VersityGW from
// the test bed) for the tests and benchmarks of audit and its readers
// (reports).
package audittest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Bed is a VersityGW server with an object-locked bucket "locked" and a
// plain one "plain", a store on each rooted at <prefix>/safekeep/v1, and a
// signing key.
type Bed struct {
	S3     *testbed.S3Server
	Locked storage.Store
	Plain  storage.Store
	Signer crypto.SigningKey
}

// NewBed starts VersityGW (with keep-alive connections, as S3 services
// keep them) with both buckets and makes a signing key.
func NewBed(tb testing.TB) *Bed {
	tb.Helper()
	s3 := testbed.StartS3(tb, testbed.S3KeepAlive())
	s3.CreateBucket(tb, "locked", true)
	s3.CreateBucket(tb, "plain", false)
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		tb.Fatal(err)
	}
	return &Bed{
		S3:     s3,
		Locked: OpenStore(tb, s3.Config("locked", "site/safekeep/v1")),
		Plain:  OpenStore(tb, s3.Config("plain", "site/safekeep/v1")),
		Signer: k,
	}
}

// VersionedStore starts VersityGW keeping versions with an object-locked
// (so versioned, as on AWS) bucket and returns a store on it rooted at
// <prefix>/safekeep/v1: a plain DELETE there adds a delete marker.
func VersionedStore(tb testing.TB) storage.Store {
	tb.Helper()
	s3 := testbed.StartS3(tb, testbed.S3Versioned())
	s3.CreateBucket(tb, "locked", true)
	return OpenStore(tb, s3.Config("locked", "site/safekeep/v1"))
}

// AppendRecords appends record(0) ... record(n-1) to l with Append, as a
// writer of the log does, and returns the head entry. WriteLog is the quick
// way to a big log.
func AppendRecords(tb testing.TB, l *audit.Log, n int, record func(i int) audit.Record) *audit.Entry {
	tb.Helper()
	var last *audit.Entry
	for i := range n {
		e, err := l.Append(tb.Context(), record(i))
		if err != nil {
			tb.Fatalf("append record %d: %v", i, err)
		}
		last = e
	}
	return last
}

// NewVersionedLog is a log writer (a new signing key, no object lock, opts
// otherwise) on a VersionedStore, and the store.
func NewVersionedLog(tb testing.TB, opts audit.Options) (storage.Store, *audit.Log) {
	tb.Helper()
	st := VersionedStore(tb)
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		tb.Fatal(err)
	}
	opts.NoLock = true
	return st, audit.New(st, k, opts)
}

// OpenStore opens cfg's store with the default retry policy.
func OpenStore(tb testing.TB, cfg storage.Config) storage.Store {
	tb.Helper()
	st, err := storage.New(cfg)
	if err != nil {
		tb.Fatalf("storage.New: %v", err)
	}
	return storage.WithRetry(st, storage.DefaultRetryPolicy())
}

// Start is the time of the first entry WriteLog writes.
var Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Record returns the i-th (0-based) record of a synthetic log: in every
// ten, six seals, two drills (one in five failing), a retention deletion
// and a failure, over three schedules and two drills.
func Record(i int) audit.Record {
	schedules := []string{"nightly", "hourly", "weekly"}
	s := schedules[i%len(schedules)]
	backup := fmt.Sprintf("%s-%08d", s, i)
	actor := "system:serviceaccount:safekeep-system:safekeep-controller"
	switch i % 10 {
	case 6, 7:
		drill := []string{"nightly-drill", "weekly-drill"}[i%2]
		passed := i%50 != 6
		checks := []audit.CheckResult{{Name: "seal", Passed: true}, {Name: "restore", Passed: passed}}
		if !passed {
			checks[1].Message = "velero restore PartiallyFailed"
		}
		t := Time(i)
		return audit.Record{Actor: actor, Kind: audit.KindDrill, Subject: "safekeep-system/" + drill,
			Details: audit.DrillDetails{Namespace: "safekeep-system", Drill: drill, Run: fmt.Sprintf("%s-%d", drill, i),
				Schedule: s, Backup: backup, Passed: passed, StartedAt: t.Add(-time.Duration(60+i%300) * time.Second), FinishedAt: t,
				RTOSeconds: float64(60 + i%300), MaxRTOSeconds: 300, Checks: checks}}
	case 8:
		return audit.Record{Actor: actor, Kind: audit.KindRetentionDelete, Subject: "safekeep-system/" + s + "/" + backup,
			Details: audit.DeleteDetails{Namespace: "safekeep-system", Schedule: s, Backup: backup, Reason: "retention: keepDaily 7"}}
	case 9:
		return audit.Record{Actor: actor, Kind: audit.KindFailure, Subject: "safekeep-system/" + s,
			Details: audit.FailureDetails{Namespace: "safekeep-system", Operation: "seal", Schedule: s, Backup: backup,
				Reason: "SealFailed", Message: "offsite endpoint unreachable"}}
	}
	return audit.Record{Actor: actor, Kind: audit.KindSeal, Subject: "safekeep-system/" + s + "/" + backup,
		Details: audit.SealDetails{Namespace: "safekeep-system", Schedule: s, Backup: backup, Target: "offsite",
			Objects: 9, CiphertextBytes: int64(1<<20 + i), SealDigest: audit.HashOf([]byte(backup)),
			Recipients:  []string{"sha256:2f1c9d6e0b7a4c3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"},
			RetainUntil: Time(i).AddDate(0, 0, 30), DurationSeconds: 12.5}}
}

// Time is the time of the i-th entry of a synthetic log: ten minutes apart
// from Start.
func Time(i int) time.Time { return Start.Add(time.Duration(i) * 10 * time.Minute) }

// WriteOptions tune WriteLog.
type WriteOptions struct {
	// Lock locks every object (governance, one day) as Append does.
	Lock bool
	// Concurrency is how many objects are written at once; 0 means 32.
	Concurrency int
	// SegmentSize is the entries per checkpoint segment, as
	// audit.Options.SegmentSize: 0 means audit.DefaultSegmentSize, below 0
	// writes none.
	SegmentSize int
}

// WriteLog writes a valid log of n entries (Record(0) ... Record(n-1),
// times Time(i)) into an empty store: the objects Append would write
// (claim and entry object of each, a segment per SegmentSize entries, the
// public key), built in memory and put concurrently. It is how big logs are made quickly; Append is tested
// separately. It returns the head entry.
func WriteLog(tb testing.TB, store storage.Store, signer crypto.SigningKey, n int, opts WriteOptions) *audit.Entry {
	tb.Helper()
	ctx := tb.Context()
	if err := seal.PublishSigningKey(ctx, store, signer.Public()); err != nil {
		tb.Fatalf("publish key: %v", err)
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = 32
	}
	type obj struct {
		key  string
		data []byte
		at   time.Time
	}
	work := make(chan obj, 2*conc)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range conc {
		wg.Go(func() {
			for o := range work {
				po := storage.PutOptions{Size: int64(len(o.data)), ContentType: "application/json", IfAbsent: true}
				if opts.Lock {
					po.LockMode, po.RetainUntil = storage.LockGovernance, time.Now().Add(24*time.Hour)
				}
				if _, err := store.Put(ctx, o.key, bytes.NewReader(o.data), po); err != nil {
					select {
					case errs <- fmt.Errorf("put %s: %w", o.key, err):
					default:
					}
					cancel()
				}
			}
		})
	}
	segSize := opts.SegmentSize
	if segSize == 0 {
		segSize = audit.DefaultSegmentSize
	}
	var prev *audit.Entry
	var seg [][]byte
	for i := range n {
		e, data, err := Entry(i, prev, signer)
		if err != nil {
			tb.Fatal(err)
		}
		objs := []obj{{audit.ClaimKey(e.Seq), data, e.Time}, {audit.EntryKey(e.Seq, e.Hash), data, e.Time}}
		if segSize > 0 {
			seg = append(seg, data)
			if e.Seq%uint64(segSize) == 0 {
				objs = append(objs, obj{audit.SegmentKey(e.Seq-uint64(segSize)+1, e.Seq), audit.EncodeSegment(seg), e.Time})
				seg = nil
			}
		}
		stop := false
		for _, o := range objs {
			select {
			case work <- o:
			case <-ctx.Done():
				stop = true
			}
		}
		if stop {
			break
		}
		prev = e
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatalf("write audit log: %v", err)
	default:
	}
	return prev
}

// Entry builds and signs the i-th entry of a synthetic log after prev (nil
// for the first), returning it and its object's bytes.
func Entry(i int, prev *audit.Entry, signer crypto.SigningKey) (*audit.Entry, []byte, error) {
	rec := Record(i)
	e := &audit.Entry{Format: audit.FormatV1, Seq: 1, Time: Time(i), Actor: rec.Actor, Kind: rec.Kind, Subject: rec.Subject}
	if prev != nil {
		e.Seq, e.Prev = prev.Seq+1, prev.Hash
	}
	d, err := json.Marshal(rec.Details)
	if err != nil {
		return nil, nil, err
	}
	e.Details = d
	data, err := audit.Sign(e, signer)
	return e, data, err
}

// WantEntry verifies the audit log in st (the keys published in the
// bucket) and returns its entry of kind about subject, written by actor,
// failing the test when the chain is not intact or the entry is missing.
// detail, when set, must appear in the entry's details.
func WantEntry(t *testing.T, actor string, st storage.Store, kind audit.Kind, subject, detail string) *audit.Entry {
	t.Helper()
	if _, err := audit.Verify(t.Context(), st, audit.VerifyOptions{}); err != nil {
		t.Fatalf("audit log: %v", err)
	}
	var kinds []string
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatalf("read audit log: %v", err)
		}
		if e.Kind == kind && e.Subject == subject && strings.Contains(string(e.Details), detail) {
			if e.Actor != actor {
				t.Errorf("audit entry %d actor %q, want %q", e.Seq, e.Actor, actor)
			}
			return e
		}
		kinds = append(kinds, string(e.Kind)+" "+e.Subject)
	}
	t.Fatalf("no audit entry %s %s (with %q); the log holds %v", kind, subject, detail, kinds)
	return nil
}

// PlantBrokenClaim writes at seq's claim the first bytes of an entry, as
// a server that stored the claim cut short leaves it (without lock, so
// the test can go on). The next Append burns seq (docs/audit.md, "Burned
// sequence numbers").
func PlantBrokenClaim(tb testing.TB, st storage.Store, seq uint64) {
	tb.Helper()
	data := []byte(fmt.Sprintf(`{"actor":"system:serviceaccount:safekeep-system:safekeep-controller","format":"safekeep.dev/audit/v1","seq":%d,"tru`, seq))
	if _, err := st.Put(tb.Context(), audit.ClaimKey(seq), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data)), IfAbsent: true}); err != nil {
		tb.Fatalf("plant a broken claim %d: %v", seq, err)
	}
}
