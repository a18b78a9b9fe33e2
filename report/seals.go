package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
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
	// Damaged names the objects whose stored bytes fail the server's
	// checksum on every read (Verdict sets it from Err).
	Damaged []string
	// Unreadable: reads kept failing however often they were tried, and
	// nothing else was found: Err says nothing about the backup.
	Unreadable bool
}

// maxProblemsNamed bounds the problems one SealProblem's text lists.
const maxProblemsNamed = 20

// Verdict records the outcome of verifying the seal (seal.Verify's report
// and error, or seal.List's error for a seal.json it could not take) and
// reports whether it is one: false when err says nothing about this seal
// (the context ended, the bucket refused the credentials), which stops the
// report. A damaged object is named and counted as damaged, whatever else
// was checked; reads that kept failing are a transient failure, never a
// finding about the backup.
func (st *SealStatus) Verdict(ctx context.Context, rep *seal.Report, err error) bool {
	var ve *seal.VerifyError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			if p.Kind == seal.ProblemDamaged {
				st.Damaged = append(st.Damaged, p.Object)
			}
		}
		st.Unreadable = rep != nil && rep.Unreadable()
	case errors.Is(err, storage.ErrCorrupt):
		// seal.json itself fails the stored checksum (ErrBadSeal).
		st.Damaged = []string{seal.SealObject}
	case errors.Is(err, seal.ErrBadSeal), errors.Is(err, seal.ErrNotSealed):
	case errors.Is(err, seal.ErrUnreadable) && ctx.Err() == nil:
		st.Unreadable = true
	default:
		return false
	}
	st.Checked, st.Err = true, err
	return true
}

// state is the Offsite state of a seal that was checked and did not verify.
func (st *SealStatus) state() string {
	var ve *seal.VerifyError
	switch {
	case st.Unreadable:
		return OffsiteUnreadable
	case len(st.Damaged) == 0:
		return OffsiteFailed
	case errors.As(st.Err, &ve):
		for _, p := range ve.Problems {
			if p.Kind != seal.ProblemDamaged && p.Kind != seal.ProblemUnreadable {
				return OffsiteFailed // a finding besides the damage
			}
		}
	}
	return OffsiteDamaged
}

// problemText says what is wrong with a seal that did not verify: each
// problem found, named (the first maxProblemsNamed), not only the first.
func (st *SealStatus) problemText() string {
	if st.Err == nil {
		return "seal.json is unreadable"
	}
	var ve *seal.VerifyError
	msg := st.Err.Error()
	if errors.As(st.Err, &ve) && len(ve.Problems) > 1 {
		parts := make([]string, 0, min(len(ve.Problems), maxProblemsNamed)+1)
		for i, p := range ve.Problems {
			if i == maxProblemsNamed {
				parts = append(parts, fmt.Sprintf("and %d more", len(ve.Problems)-i))
				break
			}
			parts = append(parts, p.String())
		}
		msg = fmt.Sprintf("%d problems: %s", len(ve.Problems), strings.Join(parts, "; "))
	}
	if st.Unreadable {
		msg = "could not be read however often it was tried (a transient failure of the bucket or network, not a finding about the backup; the next report checks it again): " + msg
	}
	return msg
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
			Problem: "sealed in the period but no audit entry records it", Damaged: f.Damaged}
		if f.Checked && f.Err != nil {
			p.Problem += "; and it does not verify: " + f.problemText()
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
		p := SealProblem{Schedule: bk.Schedule, Backup: bk.Name, State: state, Problem: msg}
		if f != nil {
			p.Damaged = f.Damaged
		}
		sc.Problems = append(sc.Problems, p)
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
		state := f.state()
		switch state {
		case OffsiteDamaged:
			sc.Damaged++
		case OffsiteUnreadable:
			sc.Unreadable++
		default:
			sc.Failed++
		}
		return problem(state, f.problemText())
	case f.Digest != bk.SealDigest && f.StoredDigest != bk.SealDigest:
		sc.Mismatch++
		return problem(OffsiteMismatch, "seal.json in the bucket is "+f.Digest+", the log recorded "+bk.SealDigest)
	case !f.Checked:
		return OffsiteNotChecked
	}
	sc.Verified++
	return OffsiteVerified
}
