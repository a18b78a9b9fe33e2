package seal

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// volumeRepos returns the repository folders (VolumeRepoPath) of sl's
// volume blobs, sorted.
func volumeRepos(sl *Seal) []string {
	repos := map[string]bool{}
	for _, o := range sl.VolumeBlobs {
		if i := strings.Index(o.Name, "/"+volumeBlobKind); i > 0 {
			repos[o.Name[:i+1]] = true
		}
	}
	return slices.Sorted(maps.Keys(repos))
}

// addVolumeVersions adds to all the versions of the blobs of the
// repositories sl's volume blobs are in (one listing per repository:
// blobs are shared, so this lists other seals' too).
func addVolumeVersions(ctx context.Context, offsite storage.Store, sl *Seal, all map[string][]storage.Version) error {
	for _, repo := range volumeRepos(sl) {
		vs, err := versionsOf(ctx, offsite, repo+volumeBlobKind)
		if err != nil {
			return err
		}
		maps.Copy(all, vs)
	}
	return nil
}

// hiddenVolumeReceipts finds the receipts of sl's volume blobs that delete
// markers hide, each with the newest version under its marker that is a
// volume receipt signed by one of keys for that blob and the ciphertext
// digest its name carries. A later seal reuses a blob only on its receipt,
// and retention deletes only blobs a receipt vouches for. Without keys none
// is recovered.
func hiddenVolumeReceipts(ctx context.Context, offsite storage.Store, sl *Seal, keys []crypto.VerifyKey) ([]Hidden, error) {
	if sl == nil {
		return nil, nil
	}
	blobs := make(map[string]Object, len(sl.VolumeBlobs))
	for _, o := range sl.VolumeBlobs {
		blobs[o.Name] = o
	}
	var out []Hidden
	for _, repo := range volumeRepos(sl) {
		all, err := versionsOf(ctx, offsite, repo+volumeReceiptKind)
		if err != nil {
			return nil, err
		}
		for _, key := range slices.Sorted(maps.Keys(all)) {
			marker, hidden := storage.Hidden(all[key])
			if !hidden {
				continue
			}
			vk, ok := parseVolumeKey(key)
			sha := strings.TrimSuffix(strings.TrimPrefix(key, repo+volumeReceiptKind+vk.id+"."), ".json")
			blob := VolumeBlobKey(repo, vk.id, "")
			if !ok || (!mutableBlobs[vk.id] && blobs[blob].SHA256 != sha) {
				continue // not a receipt of this seal's blobs
			}
			h := Hidden{Key: key, Object: key, MarkerID: marker.VersionID, MarkerAt: marker.LastModified}
			if len(keys) > 0 {
				if _, err := sealUnder(ctx, offsite, all[key], &h, func(data []byte) (*Seal, error) {
					return nil, checkVolumeReceipt(data, keys, blobs, sha)
				}); err != nil {
					return nil, err
				}
			}
			if h.Recovered() || !mutableBlobs[vk.id] {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// checkVolumeReceipt accepts data when it is a volume receipt signed by
// one of keys for one of blobs, with that blob's ciphertext size and the
// SHA-256 sha.
func checkVolumeReceipt(data []byte, keys []crypto.VerifyKey, blobs map[string]Object, sha string) error {
	var rc volumeReceipt
	if err := parseSigned(data, formatVolumeReceiptV1, keys, &rc); err != nil {
		return err
	}
	o, ok := blobs[rc.Key]
	if !ok || rc.SHA256 != sha || o.SHA256 != sha || o.Size != rc.Size {
		return fmt.Errorf("%w: a receipt for %s %s", ErrUntrusted, rc.Key, rc.SHA256)
	}
	return nil
}
