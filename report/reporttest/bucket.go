package reporttest

import (
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// WriteSample writes the sample history into bed's offsite bucket as a
// real signed audit log (audit.Log, clocked at each record's time) and
// really seals each logged backup (small synthetic Velero backups, sealed
// at the record's time, their real digests logged). The backups retention
// deleted are removed from the bucket. The report of the bucket then has
// the sample's numbers, a verified chain and verified seals. It returns
// the number of entries written.
func WriteSample(tb testing.TB, bed *sealtest.Bed) int {
	tb.Helper()
	ctx := tb.Context()
	var now time.Time
	log := audit.New(bed.Offsite, bed.Signer, audit.Options{NoLock: true, Now: func() time.Time { return now }})
	sealer := bed.Sealer()
	sealer.Now = func() time.Time { return now }
	n := 0
	for _, r := range Records() {
		now = r.Time
		switch d := r.Record.Details.(type) {
		case audit.SealDetails:
			bed.VeleroBackup(tb, d.Backup, "Completed", 4<<10)
			sl, err := sealer.Seal(ctx, d.Schedule, d.Backup)
			if err != nil {
				tb.Fatalf("seal %s: %v", d.Backup, err)
			}
			d.SealDigest, d.Objects, d.CiphertextBytes = sl.Digest(), len(sl.Objects), sl.CiphertextBytes()
			r.Record.Details = d
		case audit.DeleteDetails:
			for info, err := range bed.Offsite.List(ctx, seal.BackupPrefix(d.Schedule, d.Backup)) {
				if err != nil {
					tb.Fatal(err)
				}
				if err := bed.Offsite.Delete(ctx, info.Key); err != nil {
					tb.Fatal(err)
				}
			}
		}
		if _, err := log.Append(ctx, r.Record); err != nil {
			tb.Fatalf("append: %v", err)
		}
		n++
	}
	return n
}

// WriteLog writes the sample history into store as a real signed audit log
// (clocked at each record's time), with no seals: their digests are the
// sample's (Digest). It returns the number of entries written.
func WriteLog(tb testing.TB, store storage.Store, signer crypto.SigningKey) int {
	tb.Helper()
	var now time.Time
	log := audit.New(store, signer, audit.Options{NoLock: true, Now: func() time.Time { return now }})
	recs := Records()
	for _, r := range recs {
		now = r.Time
		if _, err := log.Append(tb.Context(), r.Record); err != nil {
			tb.Fatalf("append: %v", err)
		}
	}
	return len(recs)
}
