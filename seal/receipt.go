package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// formatReceiptV1 is the format of receipts: what a sealer signs about each
// object it uploads, so that a resumed seal reuses only objects it (or
// another sealer with a trusted key) wrote, checked by digest.
const formatReceiptV1 = "safekeep.dev/receipt/v1"

// receiptsDir holds a backup's receipts, by ciphertext SHA-256.
const receiptsDir = "receipts/"

// ReceiptKey is the offsite key of the receipt of an object of the backup
// whose ciphertext has SHA-256 sha (lower-case hex).
func ReceiptKey(schedule, backup, sha string) string {
	return BackupPrefix(schedule, backup) + receiptsDir + sha + ".json"
}

// receipt says that a trusted sealer uploaded Object (a Velero object name,
// or ManifestObject) of Schedule/Backup with this ciphertext.
type receipt struct {
	Format   string `json:"format"`
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	Object   string `json:"object"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

// writeReceipt records that this run uploads name with ciphertext c. It is
// written before the upload's last byte leaves (see receiptReader), so an
// object that exists always has its receipt, whenever the run stops.
func (r *run) writeReceipt(ctx context.Context, name string, c Blob) error {
	data, err := marshalSigned(receipt{Format: formatReceiptV1, Schedule: r.schedule, Backup: r.backup, Object: name, Size: c.Size, SHA256: c.SHA256}, r.signer)
	if err != nil {
		return err
	}
	err = putSmall(ctx, r.offsite, ReceiptKey(r.schedule, r.backup, c.SHA256), data, storage.PutOptions{IfAbsent: true})
	if errors.Is(err, storage.ErrExists) { // the same digest: an earlier attempt's
		return nil
	}
	return err
}

// receiptFor is the commit function of an upload of the backup's object name.
func (r *run) receiptFor(ctx context.Context, name string) func(Blob) error {
	return func(c Blob) error { return r.writeReceipt(ctx, name, c) }
}

// checkReceipt makes sure an object found offsite was uploaded by a trusted
// sealer for this backup: its digest must have a receipt signed by a
// trusted key naming it. Else the error wraps ErrUntrusted and
// ErrSealConflict: the object is of unknown origin and is not reused.
func (r *run) checkReceipt(ctx context.Context, key, name string, c Blob) error {
	data, err := getSmall(ctx, r.offsite, ReceiptKey(r.schedule, r.backup, c.SHA256), maxKeyFile)
	if errors.Is(err, storage.ErrNotFound) {
		return permanent(fmt.Errorf("%w: %w: %s is offsite but no trusted sealer wrote it (no receipt for SHA-256 %s); %s",
			ErrSealConflict, ErrUntrusted, key, c.SHA256, r.lockAdvice(ctx, key)))
	}
	if err != nil {
		return err
	}
	var got receipt
	if err := parseSigned(data, formatReceiptV1, r.trusted, &got); err != nil {
		return permanent(fmt.Errorf("%w: receipt of %s: %w", ErrSealConflict, key, err))
	}
	if got.Schedule != r.schedule || got.Backup != r.backup || got.Object != name || got.Size != c.Size || got.SHA256 != c.SHA256 {
		return permanent(fmt.Errorf("%w: %w: the receipt of %s is for %s/%s %s", ErrSealConflict, ErrUntrusted, key, got.Schedule, got.Backup, got.Object))
	}
	return nil
}

// receiptReader passes the ciphertext of an upload through and, before
// handing on the bytes that complete it (total bytes in all), calls commit
// with the ciphertext's size and digest. An error from commit fails the
// read, so the upload never completes without its receipt.
type receiptReader struct {
	h      *hashingReader
	total  int64
	commit func(Blob) error
	done   bool
}

func (rr *receiptReader) Read(p []byte) (int, error) {
	n, err := rr.h.Read(p)
	if !rr.done && rr.h.n == rr.total {
		rr.done = true
		if cerr := rr.commit(rr.h.blob()); cerr != nil {
			return 0, cerr
		}
	}
	return n, err
}

var _ io.Reader = (*receiptReader)(nil)

// trustedKeysOf is the signer's public key and the previous keys.
func trustedKeysOf(pub crypto.VerifyKey, prev []crypto.VerifyKey) []crypto.VerifyKey {
	return append([]crypto.VerifyKey{pub}, prev...)
}
