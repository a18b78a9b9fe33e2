package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// sealConcurrency is how many seals Build verifies at once.
const sealConcurrency = 8

// BuildOptions are Options plus what only Build uses.
type BuildOptions struct {
	Options
	// Keys pins the audit log's signing keys (audit.VerifyOptions.Keys);
	// empty means the keys published in the bucket.
	Keys []crypto.VerifyKey
	// SealKeys pins the seals' signing keys (the target's trusted keys):
	// a seal signed by another key is listed as failing its check. Empty
	// means the keys published in the bucket, which guards against
	// accidents only.
	SealKeys []crypto.VerifyKey
	// Anchor, when set, is a head of the log recorded outside the bucket
	// (an OffsiteTarget's status.auditHead, an earlier report's head): the
	// chain verifies only if the log still holds it (audit.VerifyAnchored).
	// AnchorFrom says where it came from, for the report.
	Anchor     *audit.Anchor
	AnchorFrom string
}

// Build reads the audit log and the seals in store (an offsite target's
// root, <prefix>/safekeep/v1) and returns the report. It needs no key:
// in one pass over the log it verifies the chain and signatures
// (audit.Verify) and collects the period's entries that verified
// (VerifyOptions.Visit); then it lists the sealed backups (seal.List) and
// verifies, without identities, the seals of the period (seal.Verify).
//
// A log that does not verify still gives a report, saying so, built from
// the entries that verified. The error is for what stops a report
// altogether: the bucket cannot be read.
func Build(ctx context.Context, store storage.Store, opts BuildOptions) (*Report, error) {
	b := NewBuilder(opts.Options)
	vo := audit.VerifyOptions{Keys: opts.Keys, Visit: func(e *audit.Entry) error {
		if b.opts.Since.IsZero() || !e.Time.Before(b.opts.Since) {
			b.Add(*e)
		}
		return nil
	}}
	var vrep *audit.Report
	var err error
	if opts.Anchor != nil {
		vrep, err = audit.VerifyAnchored(ctx, store, vo, *opts.Anchor)
	} else {
		vrep, err = audit.Verify(ctx, store, vo)
	}
	var verr *audit.VerifyError
	if err != nil && !errors.As(err, &verr) && !errors.Is(err, audit.ErrBehindAnchor) {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	b.SetChain(vrep, verr)
	if opts.Anchor != nil {
		b.SetAnchor(*opts.Anchor, opts.AnchorFrom, err)
	}
	if err := b.checkSeals(ctx, store, opts.SealKeys); err != nil {
		return nil, err
	}
	return b.Report(), nil
}

// SetChain records audit.Verify's outcome (rep and its *VerifyError, nil
// when intact).
func (b *Builder) SetChain(rep *audit.Report, verr *audit.VerifyError) {
	if rep == nil {
		rep = &audit.Report{}
	}
	c := &b.rep.Integrity.Chain
	c.Checked = true
	c.Verified = verr == nil && rep.Intact()
	c.Entries, c.HeadSeq, c.HeadHash = rep.Entries, rep.HeadSeq, rep.HeadHash
	if !rep.First.IsZero() {
		f, l := rep.First.UTC(), rep.Last.UTC()
		c.FirstTime, c.LastTime = &f, &l
	}
	if verr != nil {
		c.Problem = verr.Error()
	}
	c.Tampered = rep.Tampered
	c.Burned = rep.Burned
	if terr := rep.TamperedErr(); terr != nil {
		c.Verified = false
		if c.Problem == "" {
			c.Problem = terr.Error()
		}
	}
}

// SetAnchor records the check of the log against anchor, a head recorded
// outside the bucket (from says where): err is VerifyAnchored's, which
// wraps audit.ErrBehindAnchor when the log no longer holds it. Call it
// after SetChain.
func (b *Builder) SetAnchor(a audit.Anchor, from string, err error) {
	c := &b.rep.Integrity.Chain
	ac := &AnchorCheck{Seq: a.Seq, Hash: a.Hash, From: from, Reached: !errors.Is(err, audit.ErrBehindAnchor)}
	if !ac.Reached {
		ac.Problem = anchorProblem(err)
		c.Verified = false
	}
	c.Anchor = ac
}

// anchorProblem is the ErrBehindAnchor part of VerifyAnchored's error.
func anchorProblem(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			if errors.Is(e, audit.ErrBehindAnchor) {
				return e.Error()
			}
		}
	}
	return err.Error()
}

// checkSeals lists the sealed backups and verifies those of the period
// (and those the period's log records), sealConcurrency at once.
func (b *Builder) checkSeals(ctx context.Context, store storage.Store, keys []crypto.VerifyKey) error {
	// With the target's keys, a hidden seal.json counts as recoverable only
	// from a version they verify; without, from none (as verify does).
	// A seal.json that cannot be read however often it is tried is
	// reported unreadable, and the others are checked.
	list, err := seal.ListReadingOn(ctx, store, keys)
	if err != nil {
		return fmt.Errorf("list seals: %w", err)
	}
	found := make([]SealStatus, 0, len(list))
	for _, e := range list {
		st := SealStatus{Schedule: e.Schedule, Backup: e.Backup, SealedAt: e.SealedAt, Bytes: e.Bytes}
		switch e.State {
		case seal.StateHidden:
			b.addHidden(e.Schedule, e.Backup, *e.Hidden)
			continue
		case seal.StateSealed:
			st.Digest, st.StoredDigest = e.Seal.Digest(), e.Seal.StoredDigest()
		case seal.StateInvalid, seal.StateUntrusted, seal.StateUnreadable:
			st.Verdict(ctx, nil, e.Err)      // names a damaged seal.json
			st.Checked, st.Err = true, e.Err // whatever the error: a finding
		default:
			continue // incomplete: never sealed, not restorable
		}
		found = append(found, st)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sealConcurrency)
	var mu sync.Mutex
	for i := range found {
		st := &found[i]
		if st.Digest == "" || !b.Verify(st.Schedule, st.Backup, st.SealedAt) {
			continue
		}
		g.Go(func() error {
			rep, err := seal.Verify(gctx, store, st.Schedule, st.Backup, seal.VerifyOptions{
				TrustedKeys: keys, TrustBucketKey: len(keys) == 0, Quick: !b.opts.FullSealCheck, Concurrency: 4})
			mu.Lock()
			defer mu.Unlock()
			if !st.Verdict(gctx, rep, err) {
				return fmt.Errorf("verify seal of %s/%s: %w", st.Schedule, st.Backup, err)
			}
			for _, h := range rep.Hidden {
				b.addHidden(st.Schedule, st.Backup, h)
			}
			if err == nil && rep != nil && rep.Seal != nil && rep.Seal.Digest() != st.Digest {
				st.Digest, st.StoredDigest = rep.Seal.Digest(), rep.Seal.StoredDigest() // replaced since it was listed
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	slices.SortFunc(b.rep.Integrity.Seals.Hidden, func(a, c HiddenObject) int {
		return cmp.Or(strings.Compare(a.Schedule, c.Schedule), strings.Compare(a.Backup, c.Backup), strings.Compare(a.Key, c.Key))
	})
	b.MatchSeals(found)
	return nil
}

// addHidden records an object a delete marker hides or an overwrite covers.
func (b *Builder) addHidden(schedule, backup string, h seal.Hidden) {
	s := &b.rep.Integrity.Seals
	s.Hidden = append(s.Hidden, HiddenObject{
		Schedule: schedule, Backup: backup, Key: h.Key, Kind: h.Kind(), MarkerAt: h.MarkerAt.UTC(), Recoverable: h.Recovered(), Version: h.VersionID,
	})
}
