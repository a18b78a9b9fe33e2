package volume_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
	"github.com/safekeep-dev/safekeep/volume/volumetest"
)

func volumeSealer(b *sealtest.Bed) *seal.Sealer {
	s := b.Sealer()
	s.Volumes = &volume.Planner{Source: b.Source, BSL: "default",
		Password: func(context.Context) (string, error) { return volumetest.Password, nil }}
	return s
}

func receipts(t *testing.T, st storage.Store) map[string]int {
	t.Helper()
	n := make(map[string]int)
	for _, o := range sealtest.Snapshot(t, st, seal.VolumesDir) {
		if i := strings.Index(o.Key, "/receipts/"); i >= 0 {
			id := o.Key[i+len("/receipts/"):]
			n[id[:strings.LastIndex(id[:len(id)-len(".json")], ".")]]++
		}
	}
	return n
}

func TestSealVolumes(t *testing.T) {
	b := sealtest.NewBed(t, true)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	b.VeleroBackup(t, "b2", "Completed", 1<<10)
	first, second, firstBytes := twoSnapshots(t, b)
	volumetest.WriteBackup(t, b.Source, "b2", "default", []volumetest.PodVolume{
		{Namespace: "phi-app", Pod: "db-0", Volume: "data", PVC: "data-db-0", SnapshotID: first},
		{Namespace: "phi-app", Pod: "scanner-0", Volume: "cache", SnapshotID: second},
	})
	s := volumeSealer(b)
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	sl, err := s.Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if len(sl.VolumeBlobs) == 0 {
		t.Fatal("seal lists no volume blobs")
	}
	pub := b.Signer.Public()
	rep, err := seal.Verify(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub})
	if err != nil || rep.VolumeBlobs != len(sl.VolumeBlobs) {
		t.Fatalf("key-less verify: %d volume blobs checked, %v", rep.VolumeBlobs, err)
	}
	if _, err := seal.Verify(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities}); err != nil {
		t.Fatalf("verify with identity: %v", err)
	}
	o, err := seal.Open(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
	if err != nil {
		t.Fatal(err)
	}
	m := o.Manifest
	if len(m.Volumes) != 1 || len(m.Repositories) != 1 {
		t.Fatalf("manifest volumes %+v, repositories %d", m.Volumes, len(m.Repositories))
	}
	v, r := m.Volumes[0], m.Repositories[0]
	if v.SnapshotID != first || v.PVC != "data-db-0" || v.Files != 3 || v.Bytes != firstBytes || v.RootObjectID == "" || v.Repository != r.Path {
		t.Errorf("volume = %+v", v)
	}
	if string(r.Password) != volumetest.Password || r.Namespace != "phi-app" || len(r.Blobs) != len(sl.VolumeBlobs) {
		t.Errorf("repository %s/%s with %d blobs", r.BSL, r.Namespace, len(r.Blobs))
	}
	// The password and the PHI are only ever inside age ciphertext.
	for _, obj := range sealtest.Snapshot(t, b.Offsite, "") {
		data := sealtest.Get(t, b.Offsite, obj.Key)
		if bytes.Contains(data, []byte(volumetest.Password)) || bytes.Contains(data, []byte(sealtest.Marker)) {
			t.Errorf("%s holds plaintext", obj.Key)
		}
	}
	// Locked like every sealed object.
	if err := b.Offsite.Delete(ctx, sl.VolumeBlobs[0].Name); !errors.Is(err, storage.ErrLocked) {
		t.Errorf("delete of a sealed volume blob: %v, want ErrLocked", err)
	}

	// The second backup shares the first one's blobs: none is sealed again.
	before := receipts(t, b.Offsite)
	sl2, err := s.Seal(ctx, "nightly", "b2")
	if err != nil {
		t.Fatalf("Seal b2: %v", err)
	}
	after := receipts(t, b.Offsite)
	for id, n := range after {
		if n != 1 {
			t.Errorf("blob %s has %d receipts: sealed more than once", id, n)
		}
	}
	if len(after) <= len(before) || len(sl2.VolumeBlobs) <= len(sl.VolumeBlobs) {
		t.Errorf("b2 sealed %d blobs (%d receipts), b1 %d (%d)", len(sl2.VolumeBlobs), len(after), len(sl.VolumeBlobs), len(before))
	}
	shared := make(map[string]seal.Object)
	for _, o := range sl2.VolumeBlobs {
		shared[o.Name] = o
	}
	for _, o := range sl.VolumeBlobs {
		if shared[o.Name] != o {
			t.Errorf("b2 does not reuse %s as sealed", o.Name)
		}
	}
}

func TestVerifyNamesDamagedVolumeBlob(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	twoSnapshots(t, b)
	sl, err := volumeSealer(b).Seal(ctx, "nightly", "b1")
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	pub := b.Signer.Public()
	var pack, index string
	for _, o := range sl.VolumeBlobs {
		switch base := o.Name[strings.LastIndex(o.Name, "/")+1:]; {
		case strings.HasPrefix(base, "p") && pack == "":
			pack = o.Name
		case strings.HasPrefix(base, "x") && index == "":
			index = o.Name
		}
	}
	data := sealtest.Get(t, b.Offsite, pack)
	data[len(data)/2] ^= 1
	sealtest.Put(t, b.Offsite, pack, data)
	if err := b.Offsite.Delete(ctx, index); err != nil {
		t.Fatal(err)
	}
	rep, err := seal.Verify(ctx, b.Offsite, "nightly", "b1", seal.VerifyOptions{VerifyKey: &pub})
	if err == nil {
		t.Fatal("verify passed a flipped bit and a missing index")
	}
	got := map[string]seal.ProblemKind{}
	for _, p := range rep.Problems {
		got[p.Object] = p.Kind
	}
	if got[pack] != seal.ProblemDigest || got[index] != seal.ProblemMissing {
		t.Errorf("problems = %v; want %s digest, %s missing", rep.Problems, pack, index)
	}
	if !errors.Is(err, seal.ErrObjectMissing) || !errors.Is(err, seal.ErrObjectMismatch) {
		t.Errorf("error %v does not wrap ErrObjectMissing and ErrObjectMismatch", err)
	}
}

func TestSealRefusesUntrustedVolumeBlob(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.VeleroBackup(t, "b1", "Completed", 1<<10)
	twoSnapshots(t, b)
	// Someone who can write to the bucket plants an age file where a
	// blob of the repository will be sealed.
	p, err := volume.PlanRepository(ctx, b.Source, "phi-app", volumetest.Password, nil)
	if err != nil {
		t.Fatal(err)
	}
	var planted string
	for _, md := range p.Blobs {
		if strings.HasPrefix(string(md.BlobID), "x") {
			tag := seal.RecipientsTag([]string{b.Recipients[0].Fingerprint()})
			planted = seal.VolumeBlobKey(seal.VolumeRepoPath("default", "phi-app", p.UniqueID, tag), string(md.BlobID), "")
			var buf bytes.Buffer
			w, err := crypto.Encrypt(&buf, b.Recipients)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write(make([]byte, md.Length))
			_ = w.Close()
			sealtest.Put(t, b.Offsite, planted, buf.Bytes())
			break
		}
	}
	_, err = volumeSealer(b).Seal(ctx, "nightly", "b1")
	if !errors.Is(err, seal.ErrUntrusted) || !strings.Contains(err.Error(), planted) {
		t.Errorf("Seal over a planted blob: %v, want ErrUntrusted naming %s", err, planted)
	}
}
