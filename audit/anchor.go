package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/safekeep-dev/safekeep/storage"
)

// ErrBehindAnchor: the log no longer holds the head recorded outside the
// bucket (an anchor): entries after some point were hidden (delete markers,
// deleted claims) or the chain was rewritten. A log cut short verifies as
// intact on its own; only an anchor tells.
var ErrBehindAnchor = errors.New("audit log does not reach its anchor")

// Anchor is a head of the log recorded where whoever can write to the
// bucket cannot write: an OffsiteTarget's status, a report an auditor kept.
// Its text form is "<seq>:<hash>", as reports and `audit verify` print it.
type Anchor struct {
	Seq  uint64
	Hash string
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%s", a.Seq, a.Hash) }

// ParseAnchor reads "<seq>:sha256:<64 hex>".
func ParseAnchor(s string) (Anchor, error) {
	seqText, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || seq == 0 || !validHash(hash) {
		return Anchor{}, fmt.Errorf("anchor %q: want <seq>:sha256:<64 hex digits>, as a report's head", abbreviate(s))
	}
	return Anchor{Seq: seq, Hash: hash}, nil
}

// VerifyAnchored is Verify, then a check that the log still holds anchor:
// an entry at anchor.Seq that verified, with anchor.Hash. A log that stops
// short of it or holds another entry there is an error wrapping
// ErrBehindAnchor, whatever Verify found.
func VerifyAnchored(ctx context.Context, store storage.Store, opts VerifyOptions, anchor Anchor) (*Report, error) {
	var seen string
	visit := opts.Visit
	opts.Visit = func(e *Entry) error {
		if e.Seq == anchor.Seq {
			seen = e.Hash
		}
		if visit != nil {
			return visit(e)
		}
		return nil
	}
	rep, err := Verify(ctx, store, opts)
	var verr *VerifyError
	if err != nil && !errors.As(err, &verr) {
		return rep, err // no verdict
	}
	switch {
	case rep.HeadSeq < anchor.Seq:
		return rep, errors.Join(fmt.Errorf("%w: the log ends at entry %d, the anchor is entry %d: entries were hidden or deleted",
			ErrBehindAnchor, rep.HeadSeq, anchor.Seq), err)
	case seen == "":
		return rep, errors.Join(fmt.Errorf("%w: entry %d, the anchor, does not verify", ErrBehindAnchor, anchor.Seq), err)
	case seen != anchor.Hash:
		return rep, errors.Join(fmt.Errorf("%w: entry %d hashes to %s, the anchor says %s",
			ErrBehindAnchor, anchor.Seq, abbreviate(seen), abbreviate(anchor.Hash)), err)
	}
	return rep, err
}
