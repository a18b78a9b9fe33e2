package report

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// SealStatus is what the bucket holds for one backup folder: its seal and
// whether it verified.
type SealStatus struct {
	Schedule, Backup string
	// Digest is seal.Seal.Digest of seal.json; empty when unreadable.
	Digest string
	// StoredDigest is seal.Seal.StoredDigest: logs written before the
	// canonical digest recorded that one.
	StoredDigest string
	SealedAt     time.Time
	Bytes        int64 // ciphertext of the sealed objects
	// Checked says the seal was verified; Err is the verdict (nil: verified).
	Checked bool
	Err     error
}

// Verify reports whether Build should verify a seal found in the bucket:
// one the period's log records or one sealed in the period. Others only
// count towards the schedule's offsite totals.
func (b *Builder) Verify(schedule, backup string, sealedAt time.Time) bool {
	return b.inPeriod(sealedAt) || b.logged(schedule, backup)
}

func (b *Builder) logged(schedule, backup string) bool {
	acc := b.schedules[schedule]
	return acc != nil && acc.sealed[backup]
}

// MatchSeals records what the bucket holds: every sealed backup found
// (verified or not, see Verify). It sets each logged backup's Offsite state
// and the schedules' offsite totals, and counts what the bucket has that
// the log does not. Call it after the last Add.
func (b *Builder) MatchSeals(found []SealStatus) {
	sc := &b.rep.Integrity.Seals
	sc.Checked = true
	byKey := make(map[string]*SealStatus, len(found))
	for i := range found {
		f := &found[i]
		byKey[f.Schedule+"/"+f.Backup] = f
		if f.Digest != "" {
			acc := b.schedule("", f.Schedule)
			acc.s.OffsiteBackups++
			acc.s.OffsiteBytes += f.Bytes
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.schedules)) {
		acc := b.schedules[name]
		for i := range acc.s.Backups {
			bk := &acc.s.Backups[i]
			sc.Logged++
			bk.Offsite = b.offsiteState(bk, byKey[bk.Schedule+"/"+bk.Name], sc)
		}
	}
	for _, f := range found {
		if b.logged(f.Schedule, f.Backup) || !b.inPeriod(f.SealedAt) {
			continue
		}
		sc.Unlogged++
		p := SealProblem{Schedule: f.Schedule, Backup: f.Backup, State: "unlogged",
			Problem: "sealed in the period but no audit entry records it"}
		if f.Checked && f.Err != nil {
			p.Problem += "; and it does not verify: " + f.Err.Error()
		}
		sc.Problems = append(sc.Problems, p)
	}
	slices.SortStableFunc(sc.Problems, func(x, y SealProblem) int {
		return cmp.Or(cmp.Compare(x.Schedule, y.Schedule), cmp.Compare(x.Backup, y.Backup))
	})
}

// offsiteState decides a logged backup's Offsite state from what the
// bucket holds (f, nil when nothing) and counts it in sc.
func (b *Builder) offsiteState(bk *Backup, f *SealStatus, sc *SealChecks) string {
	problem := func(state, msg string) string {
		sc.Problems = append(sc.Problems, SealProblem{Schedule: bk.Schedule, Backup: bk.Name, State: state, Problem: msg})
		return state
	}
	switch {
	case f == nil && b.deleted[bk.Schedule+"/"+bk.Name]:
		sc.Deleted++
		return OffsiteDeleted
	case f == nil:
		sc.Missing++
		return problem(OffsiteMissing, "the log records this seal but the bucket has no such backup, and no retention deletion is logged")
	case f.Digest == "" || (f.Checked && f.Err != nil):
		sc.Failed++
		msg := "seal.json is unreadable"
		if f.Err != nil {
			msg = f.Err.Error()
		}
		return problem(OffsiteFailed, msg)
	case f.Digest != bk.SealDigest && f.StoredDigest != bk.SealDigest:
		sc.Mismatch++
		return problem(OffsiteMismatch, "seal.json in the bucket is "+f.Digest+", the log recorded "+bk.SealDigest)
	case !f.Checked:
		return OffsiteNotChecked
	}
	sc.Verified++
	return OffsiteVerified
}
