package seal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

// volumeConcurrency is how many volume blobs a seal copies at once.
const volumeConcurrency = 2

// maxMutableBlob bounds the identity blobs read whole into memory.
const maxMutableBlob = 16 << 20

// formatVolumeReceiptV1 is the format of volume blob receipts: what a
// sealer signs about each volume blob it uploads, so that a later seal
// reuses only blobs a trusted sealer wrote.
const formatVolumeReceiptV1 = "safekeep.dev/volume-receipt/v1"

// volumeReceipt says that a trusted sealer uploaded Key with this
// ciphertext.
type volumeReceipt struct {
	Format string `json:"format"`
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// VolumeReceiptKey is the offsite key of the receipt of a volume blob of the
// repository at repoPath whose ciphertext has SHA-256 sha.
func VolumeReceiptKey(repoPath, id, sha string) string {
	return repoPath + "receipts/" + id + "." + sha + ".json"
}

// sealVolumes seals every planned blob (each at most once, ever: a blob
// already sealed by a trusted sealer is reused) and returns the manifest's
// repository records and the seal's volume blob list, both sorted.
func (r *run) sealVolumes(ctx context.Context, plan *VolumePlan, recipientsTag string) ([]RepositoryRecord, []Object, error) {
	var recs []RepositoryRecord
	var objs []Object
	for _, pr := range plan.Repositories {
		if err := pr.validate(); err != nil {
			return nil, nil, err
		}
		path := VolumeRepoPath(pr.BSL, pr.Namespace, pr.UniqueID, recipientsTag)
		blobs := make([]VolumeBlob, len(pr.Blobs))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(volumeConcurrency)
		for i, pb := range pr.Blobs {
			g.Go(func() error {
				return retry(gctx, func() (err error) {
					blobs[i], err = r.sealVolumeBlob(gctx, path, pr.Prefix, pb)
					return err
				})
			})
		}
		if err := g.Wait(); err != nil {
			return nil, nil, err
		}
		recs = append(recs, RepositoryRecord{Path: path, BSL: pr.BSL, Namespace: pr.Namespace, UniqueID: pr.UniqueID,
			Recipients: recipientsTag, Password: pr.Password, Blobs: blobs})
	}
	if err := r.resealCollected(ctx, plan, recs); err != nil {
		return nil, nil, err
	}
	for _, rec := range recs {
		slices.SortFunc(rec.Blobs, func(a, b VolumeBlob) int { return cmp.Compare(a.ID, b.ID) })
		for _, b := range rec.Blobs {
			objs = append(objs, Object{Name: b.Key, Size: b.CipherSize, SHA256: b.CipherSHA256})
		}
	}
	slices.SortFunc(recs, func(a, b RepositoryRecord) int { return cmp.Compare(a.Path, b.Path) })
	slices.SortFunc(objs, func(a, b Object) int { return cmp.Compare(a.Name, b.Name) })
	return recs, objs, nil
}

// resealCollected: without object lock, when a volume retention pass was
// collecting while this seal reused blobs (awaitCollecting), it seals
// again each blob (recs[i] is plan.Repositories[i]'s) that the pass
// deleted, or whose receipt it deleted, before seal.json lists it. With
// object lock the extended lock keeps the pass from deleting it.
func (r *run) resealCollected(ctx context.Context, plan *VolumePlan, recs []RepositoryRecord) error {
	if r.lock != nil || len(recs) == 0 {
		return nil
	}
	collecting, err := r.awaitCollecting(ctx)
	if err != nil || !collecting {
		return err
	}
	for i, pr := range plan.Repositories {
		rec := &recs[i]
		for j, pb := range pr.Blobs {
			held, err := r.volumeBlobHeld(ctx, rec.Path, rec.Blobs[j])
			if err != nil {
				return err
			}
			if held {
				continue
			}
			err = retry(ctx, func() (err error) {
				rec.Blobs[j], err = r.sealVolumeBlob(ctx, rec.Path, pr.Prefix, pb)
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sealVolumeBlob seals one kopia blob of the repository at srcPrefix in
// Source to the repository folder path offsite.
func (r *run) sealVolumeBlob(ctx context.Context, path, srcPrefix string, pb PlannedBlob) (VolumeBlob, error) {
	vb := VolumeBlob{ID: pb.ID, Size: pb.Size}
	srcKey := srcPrefix + pb.ID
	open := func(ctx context.Context) (io.ReadCloser, error) {
		rc, _, err := r.src.Get(ctx, srcKey)
		return rc, err
	}
	if mutableBlobs[pb.ID] {
		data, err := getSmall(ctx, r.src, srcKey, maxMutableBlob)
		if err != nil {
			return vb, err
		}
		vb.Size = int64(len(data))
		plain, err := hashStream(bytes.NewReader(data), nil)
		if err != nil {
			return vb, err
		}
		vb.SHA256 = plain.SHA256
		open = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	}
	vb.Key = VolumeBlobKey(path, pb.ID, vb.SHA256)
	info, err := r.offsite.Stat(ctx, vb.Key)
	if err == nil {
		adopted, err := r.adoptVolumeBlob(ctx, path, vb, info, open)
		if !errors.Is(err, errBlobGone) {
			return adopted, err
		}
		// Retention deleted it (no retained seal needed it) after the
		// Stat: seal it again.
	} else if !errors.Is(err, storage.ErrNotFound) {
		return vb, err
	}
	body, err := open(ctx)
	if err != nil {
		return vb, fmt.Errorf("volume blob %s: %w", srcKey, err)
	}
	defer func() { _ = body.Close() }() // read-only: a close error loses nothing
	commit := func(c Blob) error { return r.writeVolumeReceipt(ctx, path, vb, c) }
	plain, cipher, err := r.encryptPut(ctx, vb.Key, commit, body, vb.Size, nil)
	if errors.Is(err, storage.ErrExists) { // a concurrent sealer uploaded it first
		if info, err = r.offsite.Stat(ctx, vb.Key); err != nil {
			return vb, err
		}
		return r.adoptVolumeBlob(ctx, path, vb, info, open)
	}
	if err != nil {
		return vb, err
	}
	vb.SHA256, vb.CipherSize, vb.CipherSHA256 = plain.SHA256, cipher.Size, cipher.SHA256
	return vb, nil
}

// writeVolumeReceipt records, before the upload's last byte is sent, that
// this sealer uploads vb with ciphertext c.
func (r *run) writeVolumeReceipt(ctx context.Context, path string, vb VolumeBlob, c Blob) error {
	data, err := marshalSigned(volumeReceipt{Format: formatVolumeReceiptV1, Key: vb.Key, Size: c.Size, SHA256: c.SHA256}, r.signer)
	if err != nil {
		return err
	}
	err = putSmall(ctx, r.offsite, VolumeReceiptKey(path, vb.ID, c.SHA256), data, storage.PutOptions{IfAbsent: true})
	if errors.Is(err, storage.ErrExists) { // the same digest: an earlier attempt's
		return nil
	}
	return err
}

// adoptVolumeBlob reuses a volume blob already offsite: it must have the
// size this seal's recipients give the source's plaintext, and a receipt
// signed by a trusted key for its ciphertext; else it is of unknown origin
// (ErrSealConflict wrapping ErrUntrusted). The plaintext digest comes from
// the source, which is read (not uploaded) again.
func (r *run) adoptVolumeBlob(ctx context.Context, path string, vb VolumeBlob, info storage.ObjectInfo,
	open func(context.Context) (io.ReadCloser, error)) (VolumeBlob, error) {
	body, err := open(ctx)
	if err != nil {
		return vb, fmt.Errorf("volume blob %s: %w", vb.ID, err)
	}
	plain, err := hashStream(body, nil)
	_ = body.Close() // read-only: a close error loses nothing
	if err != nil {
		return vb, fmt.Errorf("volume blob %s: %w", vb.ID, err)
	}
	if plain.Size != vb.Size || (vb.SHA256 != "" && plain.SHA256 != vb.SHA256) {
		return vb, fmt.Errorf("volume blob %s changed while it was sealed", vb.ID)
	}
	vb.SHA256 = plain.SHA256
	if want := crypto.CiphertextSize(r.headerLen, vb.Size); info.Size != want {
		return vb, permanent(fmt.Errorf("%w: %s is already offsite with %d bytes, this seal would write %d: it holds other content; %s",
			ErrSealConflict, vb.Key, info.Size, want, r.lockAdvice(ctx, vb.Key)))
	}
	var found []volumeReceipt
	for o, err := range r.offsite.List(ctx, path+"receipts/"+vb.ID+".") {
		if err != nil {
			return vb, err
		}
		data, err := getSmall(ctx, r.offsite, o.Key, maxKeyFile)
		if err != nil {
			return vb, err
		}
		var rc volumeReceipt
		if parseSigned(data, formatVolumeReceiptV1, r.trusted, &rc) == nil && rc.Key == vb.Key && rc.Size == info.Size {
			found = append(found, rc)
		}
	}
	if len(found) > 1 { // interrupted uploads left receipts of other ciphertexts: hash it
		c, err := r.offsiteDigest(ctx, vb.Key, vb.Size)
		if err != nil {
			return vb, err
		}
		found = slices.DeleteFunc(found, func(rc volumeReceipt) bool { return rc.SHA256 != c.SHA256 })
	}
	if len(found) != 1 {
		if _, err := r.offsite.Stat(ctx, vb.Key); errors.Is(err, storage.ErrNotFound) {
			return vb, errBlobGone // deleted with its receipts meanwhile
		}
		return vb, permanent(fmt.Errorf("%w: %w: %s is offsite but no trusted sealer wrote it (no receipt for it); %s",
			ErrSealConflict, ErrUntrusted, vb.Key, r.lockAdvice(ctx, vb.Key)))
	}
	vb.CipherSize, vb.CipherSHA256, vb.Reused = found[0].Size, found[0].SHA256, true
	return vb, r.extendVolumeLock(ctx, vb.Key)
}

// errBlobGone: a volume blob found offsite was deleted (by retention,
// which deletes a blob no retained seal needs) before this seal adopted it.
var errBlobGone = errors.New("volume blob deleted while adopted")

// extendVolumeLock makes an adopted volume blob's object lock last at least
// as long as this seal's new writes (docs/volumes.md, "Retention"): the
// seal lists it, so it must stay locked as long as the seal is. The lock
// extended also keeps retention from deleting it from now on; a blob
// retention deleted first is errBlobGone, and sealed again.
func (r *run) extendVolumeLock(ctx context.Context, key string) error {
	if r.lock == nil {
		return nil
	}
	err := r.offsite.ExtendLock(ctx, key, r.lock.Mode, r.putRetain)
	if errors.Is(err, storage.ErrNotFound) {
		return errBlobGone
	}
	if err != nil {
		return fmt.Errorf("volume blob %s: %w", key, err)
	}
	return nil
}

// sealPlannedVolumes asks the planner for the backup's volume data, seals
// it, and records it in m and doc. Every blob the plan names (the planner
// checked that they restore the snapshots) is sealed, or the seal fails.
func (s *Sealer) sealPlannedVolumes(ctx context.Context, r *run, m *Manifest, doc *Document) error {
	if s.Volumes == nil {
		return nil
	}
	plan, err := s.Volumes.PlanVolumes(ctx, r.backup)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	if plan == nil {
		return nil
	}
	m.NotCovered = plan.NotCovered
	if len(plan.Volumes) == 0 {
		return nil
	}
	tag := RecipientsTag(fingerprints(s.Recipients))
	recs, objs, err := r.sealVolumes(ctx, plan, tag)
	if err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	paths := make(map[string]string, len(recs))
	for _, rec := range recs {
		paths[rec.BSL+"/"+rec.Namespace+"/"+rec.UniqueID] = rec.Path
	}
	for _, v := range plan.Volumes {
		path, ok := paths[v.Repository]
		if !ok {
			return fmt.Errorf("volumes: %s/%s/%s/%s: repository %q was not planned", v.Namespace, v.Pod, v.Volume, v.PVC, v.Repository)
		}
		v.Repository = path
		m.Volumes = append(m.Volumes, v)
	}
	m.Repositories, doc.VolumeBlobs = recs, objs
	return nil
}
