package seal

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// hiddenReceipts finds the backup's receipts that delete markers hide, each
// with the newest version under its marker that is a receipt of this backup
// for the digest its name carries, signed by one of keys. Receipts are not
// sealed objects (verify needs none), but a resumed seal reuses an object
// only on its receipt. Without keys nothing vouches for a version: none is
// recovered.
func hiddenReceipts(ctx context.Context, offsite storage.Store, schedule, backup string, keys []crypto.VerifyKey) ([]Hidden, error) {
	prefix := BackupPrefix(schedule, backup) + receiptsDir
	all, err := versionsOf(ctx, offsite, prefix)
	if err != nil {
		return nil, err
	}
	var out []Hidden
	for _, key := range slices.Sorted(mapKeys(all)) {
		marker, hidden := storage.Hidden(all[key])
		if !hidden {
			continue
		}
		sha := strings.TrimSuffix(path.Base(key), ".json")
		h := Hidden{Key: key, Object: receiptsDir + sha, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
		if len(keys) > 0 {
			if _, err := sealUnder(ctx, offsite, all[key], &h, func(data []byte) (*Seal, error) {
				return nil, checkReceiptOf(data, keys, schedule, backup, sha)
			}); err != nil {
				return nil, err
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// checkReceiptOf accepts data when it is a receipt signed by one of keys
// for an object of schedule/backup whose ciphertext has SHA-256 sha.
func checkReceiptOf(data []byte, keys []crypto.VerifyKey, schedule, backup, sha string) error {
	var got receipt
	if err := parseSigned(data, formatReceiptV1, keys, &got); err != nil {
		return err
	}
	if got.Schedule != schedule || got.Backup != backup || got.SHA256 != sha {
		return fmt.Errorf("%w: a receipt for %s/%s %s", ErrUntrusted, got.Schedule, got.Backup, got.SHA256)
	}
	return nil
}
