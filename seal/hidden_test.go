package seal_test

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// sealLocked seals a synthetic backup with governance retention on the
// bed's versioned, object-locked bucket.
func sealLocked(t *testing.T, b *sealtest.Bed, schedule, name string) (*seal.Seal, map[string][]byte) {
	t.Helper()
	objs := b.VeleroBackup(t, name, "Completed", 300<<10)
	s := b.Sealer()
	s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
	sl, err := s.Seal(t.Context(), schedule, name)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sl, objs
}

// TestVerifyRecoversHidden: on a versioned bucket, a delete marker over a
// sealed object, the manifest, seal.json or all of them at once hides
// nothing from verify and open: each is read from the locked version under
// its marker, and named as hidden and recovered.
func TestVerifyRecoversHidden(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	pinned := []crypto.VerifyKey{b.Signer.Public()}
	for i, tc := range []struct {
		name string
		keys func(sl *seal.Seal) []string
	}{
		{"object", func(sl *seal.Seal) []string { return []string{seal.ObjectKey("s", sl.Backup, sl.Backup+".tar.gz")} }},
		{"manifest", func(sl *seal.Seal) []string { return []string{seal.ManifestKey("s", sl.Backup)} }},
		{"seal", func(sl *seal.Seal) []string { return []string{seal.SealKey("s", sl.Backup)} }},
		{"everything", func(sl *seal.Seal) []string {
			keys := []string{seal.SealKey("s", sl.Backup), seal.ManifestKey("s", sl.Backup)}
			for _, o := range sl.Objects {
				keys = append(keys, seal.ObjectKey("s", sl.Backup, o.Name))
			}
			return keys
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "b-" + string(rune('a'+i))
			sl, objs := sealLocked(t, b, "s", name)
			hidden := tc.keys(sl)
			for _, k := range hidden {
				sealtest.Hide(t, b.Offsite, k)
			}
			checkListed(t, b.Offsite, pinned, "s", name, hidden)
			rep, err := seal.Verify(ctx, b.Offsite, "s", name, seal.VerifyOptions{TrustedKeys: pinned, Identities: b.Identities})
			if err != nil {
				t.Fatalf("Verify with delete markers over %v: %v", hidden, err)
			}
			var got []string
			for _, h := range rep.Hidden {
				if !h.Recovered() || len(h.Refused) != 0 || h.MarkerAt.IsZero() {
					t.Errorf("hidden %+v: want recovered, nothing refused, a marker time", h)
				}
				if !strings.Contains(h.String(), "hidden by a delete marker at ") || !strings.Contains(h.String(), "recovered from version "+h.VersionID) {
					t.Errorf("Hidden.String() = %q", h.String())
				}
				got = append(got, h.Key)
			}
			slices.Sort(got)
			slices.Sort(hidden)
			if !slices.Equal(got, hidden) {
				t.Fatalf("Verify reports hidden %v, want %v", got, hidden)
			}
			opened, err := seal.Open(ctx, b.Offsite, "s", name, seal.VerifyOptions{TrustedKeys: pinned, Identities: b.Identities})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if len(opened.Hidden) != len(hidden) {
				t.Errorf("Open reports %d hidden, want %d", len(opened.Hidden), len(hidden))
			}
			for _, o := range opened.Manifest.Objects {
				var buf bytes.Buffer
				if _, err := opened.ReadObject(ctx, o.Name, &buf, nil); err != nil {
					t.Fatalf("ReadObject(%s): %v", o.Name, err)
				}
				if !bytes.Equal(buf.Bytes(), objs[o.Name]) {
					t.Fatalf("ReadObject(%s) differs from Velero's bytes", o.Name)
				}
			}
		})
	}
}

// TestHiddenAlteredVersionRefused: an attacker who overwrites a sealed
// object (a new version) and then deletes it (a marker) gets neither used:
// the altered version is refused and the locked original recovered; with
// only altered versions under the marker the object is missing.
func TestHiddenAlteredVersionRefused(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	pinned := []crypto.VerifyKey{b.Signer.Public()}
	sl, _ := sealLocked(t, b, "s", "b1")
	key := seal.ObjectKey("s", "b1", "b1.tar.gz")
	data := sealtest.Get(t, b.Offsite, key)
	data[len(data)/2] ^= 1
	sealtest.Put(t, b.Offsite, key, data) // same size, other bytes
	sealtest.Hide(t, b.Offsite, key)
	vs := sealtest.Versions(t, b.Offsite, key)
	altered, original := vs[1].VersionID, vs[2].VersionID

	rep, err := seal.Verify(ctx, b.Offsite, "s", "b1", seal.VerifyOptions{TrustedKeys: pinned, Identities: b.Identities})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Hidden) != 1 || rep.Hidden[0].VersionID != original || !slices.Equal(rep.Hidden[0].Refused, []string{altered}) {
		t.Fatalf("Hidden = %+v, want recovered from %s with %s refused", rep.Hidden, original, altered)
	}

	// A forged seal.json signed by another key under a marker is refused:
	// the backup stays unsealed, never restorable.
	skey := seal.SealKey("s", "b1")
	forged := bytes.Replace(sl.Raw, []byte(`"cluster-a"`), []byte(`"cluster-x"`), 1)
	sealtest.Put(t, b.Offsite, skey, forged)
	sealtest.Hide(t, b.Offsite, skey)
	rep, err = seal.Verify(ctx, b.Offsite, "s", "b1", seal.VerifyOptions{TrustedKeys: pinned})
	if err != nil {
		t.Fatalf("Verify with the genuine seal.json under a forged version and a marker: %v", err)
	}
	if h := rep.Hidden[0]; h.Object != seal.SealObject || len(h.Refused) != 1 || h.VersionID == h.Refused[0] {
		t.Fatalf("hidden seal.json = %+v, want the forged version refused", h)
	}

	// Without a pinned key, a hidden seal.json is not recovered: nothing
	// in the bucket can vouch for it.
	_, err = seal.Verify(ctx, b.Offsite, "s", "b1", seal.VerifyOptions{})
	if !errors.Is(err, seal.ErrNotSealed) {
		t.Fatalf("Verify of a hidden seal.json without a pinned key: %v, want ErrNotSealed", err)
	}
}

// checkListed finds schedule/backup in seal.ListTrusted: hidden and
// recoverable when its seal.json is hidden, sealed otherwise, naming the
// hidden keys; and in seal.List, which vouches for no hidden seal.json.
func checkListed(t *testing.T, st storage.Store, keys []crypto.VerifyKey, schedule, backup string, hidden []string) {
	t.Helper()
	sealHidden := slices.Contains(hidden, seal.SealKey(schedule, backup))
	e := listed(t, st, keys, schedule, backup)
	switch {
	case sealHidden && (e.State != seal.StateHidden || !e.Recoverable() || e.Seal == nil || e.Restorable()):
		t.Fatalf("ListTrusted entry %+v: want hidden, recoverable, with its seal, not restorable as is", e)
	case !sealHidden && e.State != seal.StateSealed:
		t.Fatalf("ListTrusted entry %+v: want sealed", e)
	}
	var got []string
	for _, h := range e.HiddenObjects() {
		got = append(got, h.Key)
	}
	want := slices.Sorted(slices.Values(hidden))
	if !slices.Equal(got, want) {
		t.Errorf("HiddenObjects = %v, want %v", got, want)
	}
	if u := listed(t, st, nil, schedule, backup); sealHidden && (u.State != seal.StateHidden || u.Recoverable()) {
		t.Errorf("List entry %+v: want hidden and not recoverable (List checks no signature)", u)
	}
}

// listed returns schedule/backup's entry in ListTrusted (List without keys).
func listed(t *testing.T, st storage.Store, keys []crypto.VerifyKey, schedule, backup string) seal.Entry {
	t.Helper()
	entries, err := seal.List(t.Context(), st)
	if keys != nil {
		entries, err = seal.ListTrusted(t.Context(), st, keys, seal.Binding{})
	}
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	for _, e := range entries {
		if e.Schedule == schedule && e.Backup == backup {
			return e
		}
	}
	t.Fatalf("the listing does not show %s/%s", schedule, backup)
	return seal.Entry{}
}

// TestListTrustedHiddenForgedSeal: a hidden seal.json is recoverable only
// from a version signed by a trusted key. Before, a version that merely
// parsed made it "recoverable": a forged one on top was offered, and a
// backup whose only seal was forged looked recoverable.
func TestListTrustedHiddenForgedSeal(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	pinned := []crypto.VerifyKey{b.Signer.Public()}
	forge := forger(t, b)

	// A genuine seal under a forged version and a marker: recovered from
	// the genuine one, the forged one refused.
	sealLocked(t, b, "s", "real")
	skey := seal.SealKey("s", "real")
	genuine := sealtest.Versions(t, b.Offsite, skey)[0].VersionID
	sealtest.Put(t, b.Offsite, skey, forge("real"))
	sealtest.Hide(t, b.Offsite, skey)
	e := listed(t, b.Offsite, pinned, "s", "real")
	if !e.Recoverable() || e.Hidden.VersionID != genuine || len(e.Hidden.Refused) != 1 {
		t.Errorf("hidden genuine seal under a forged version: %+v, want recoverable from %s, one refused", e.Hidden, genuine)
	}

	// A backup whose only seal was forged, then hidden: not recoverable.
	sealtest.Put(t, b.Offsite, seal.SealKey("s", "fake"), forge("fake"))
	sealtest.Hide(t, b.Offsite, seal.SealKey("s", "fake"))
	e = listed(t, b.Offsite, pinned, "s", "fake")
	if e.State != seal.StateHidden || e.Recoverable() || e.Seal != nil {
		t.Errorf("hidden forged seal: state %s, recoverable %v, seal %v; want hidden, not recoverable, no seal", e.State, e.Recoverable(), e.Seal != nil)
	}
	if len(e.Hidden.Refused) != 1 {
		t.Errorf("hidden forged seal: refused %v, want its one version", e.Hidden.Refused)
	}
}

// forger returns a function that seals a backup of the given name with an
// attacker's key in a folder of the attacker's own, and returns its
// seal.json: what an attacker copies over a real one.
func forger(t *testing.T, b *sealtest.Bed) func(name string) []byte {
	evil := b.Sealer()
	evil.Signer = sealtest.NewSigner(t)
	evil.Offsite = sealtest.OpenStore(t, b.S3.Config(b.OffsiteBucket, "evil/safekeep/v1"))
	return func(name string) []byte {
		t.Helper()
		b.VeleroBackup(t, name, "Completed", 1<<10)
		sl, err := evil.Seal(t.Context(), "s", name)
		if err != nil {
			t.Fatal(err)
		}
		return sl.Raw
	}
}

// TestOverwrittenSealRecovered: an attacker's new version of seal.json put
// over the genuine one (no delete marker: signed by their key, or garbage)
// does not unseal the backup: listing finds it recoverable from the genuine
// version, naming the overwrite; verify and open read the genuine version;
// recover makes it current again. A seal.json whose every version is
// forged stays untrusted. Before, the backup was reported untrusted or
// invalid.
func TestOverwrittenSealRecovered(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	opts := seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}, Identities: b.Identities}
	forge := forger(t, b)
	for _, tc := range []struct {
		name   string
		forged func(name string) []byte
	}{
		{"signed", forge},
		{"garbage", func(string) []byte { return []byte("not a seal") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "over-" + tc.name
			sl, objs := sealLocked(t, b, "s", name)
			key := seal.SealKey("s", name)
			genuine := sealtest.Versions(t, b.Offsite, key)[0].VersionID
			sealtest.Put(t, b.Offsite, key, tc.forged(name))
			forged := sealtest.Versions(t, b.Offsite, key)[0].VersionID

			e := listed(t, b.Offsite, opts.TrustedKeys, "s", name)
			if !e.Recoverable() || e.Seal == nil || !e.Hidden.Overwritten || e.Hidden.MarkerID != forged || e.Hidden.VersionID != genuine {
				t.Fatalf("ListTrusted entry %s, hidden %+v: want recoverable from %s, overwritten by %s", e.State, e.Hidden, genuine, forged)
			}
			if hs := e.HiddenObjects(); len(hs) != 1 || hs[0].Key != key {
				t.Errorf("HiddenObjects = %+v, want the overwritten seal.json", hs)
			}
			rep, err := seal.Verify(ctx, b.Offsite, "s", name, opts)
			if err != nil {
				t.Fatalf("Verify with seal.json overwritten: %v", err)
			}
			if len(rep.Hidden) != 1 || !rep.Hidden[0].Overwritten || rep.Hidden[0].VersionID != genuine ||
				!strings.Contains(rep.Hidden[0].String(), "overwritten with other bytes (version "+forged+")") {
				t.Fatalf("Hidden = %+v, want seal.json overwritten by %s, recovered from %s", rep.Hidden, forged, genuine)
			}
			opened, err := seal.Open(ctx, b.Offsite, "s", name, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			for _, o := range opened.Manifest.Objects {
				var buf bytes.Buffer
				if _, err := opened.ReadObject(ctx, o.Name, &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), objs[o.Name]) {
					t.Fatalf("ReadObject(%s): %v, or bytes differ from Velero's", o.Name, err)
				}
			}
			recs, after, err := seal.Recover(ctx, b.Offsite, "s", name, seal.RecoverOptions{VerifyOptions: opts})
			if err != nil || len(recs) != 1 || recs[0].Err != nil || len(after.Hidden) != 0 {
				t.Fatalf("Recover: %+v, %v; after: %+v", recs, err, after)
			}
			if got := sealtest.Get(t, b.Offsite, key); !bytes.Equal(got, sl.Raw) {
				t.Errorf("after recover the current seal.json is not the genuine version %s", genuine)
			}
			if e := listed(t, b.Offsite, opts.TrustedKeys, "s", name); e.State != seal.StateSealed {
				t.Errorf("after recover the entry is %s, want sealed", e.State)
			}
		})
	}

	// Every version forged: nothing to recover, never trusted.
	key := seal.SealKey("s", "fake")
	sealtest.Put(t, b.Offsite, key, forge("fake"))
	sealtest.Put(t, b.Offsite, key, forge("fake"))
	if e := listed(t, b.Offsite, opts.TrustedKeys, "s", "fake"); e.State != seal.StateUntrusted || e.Recoverable() {
		t.Errorf("only forged versions: state %s, recoverable %v; want untrusted", e.State, e.Recoverable())
	}
	if _, err := seal.Verify(ctx, b.Offsite, "s", "fake", opts); !errors.Is(err, seal.ErrUntrusted) {
		t.Errorf("Verify of only forged versions: %v, want ErrUntrusted", err)
	}
}

// TestOverwriteRecovered: an attacker's overwrite of a sealed object (a new
// current version with other bytes, no marker) is not a mismatch on a
// versioned bucket: the locked sealed version under it is read, the
// overwrite refused and named, and recover makes the sealed version current
// again. Before, verify reported the object mismatched although the locked
// original was intact.
func TestOverwriteRecovered(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	opts := seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}, Identities: b.Identities}
	_, objs := sealLocked(t, b, "s", "b1")
	key := seal.ObjectKey("s", "b1", "b1.tar.gz")
	data := sealtest.Get(t, b.Offsite, key)
	data[len(data)/2] ^= 1
	sealtest.Put(t, b.Offsite, key, data) // same size, other bytes, current now
	vs := sealtest.Versions(t, b.Offsite, key)
	altered, original := vs[0].VersionID, vs[1].VersionID

	rep, err := seal.Verify(ctx, b.Offsite, "s", "b1", opts)
	if err != nil {
		t.Fatalf("Verify with the sealed object overwritten: %v", err)
	}
	if len(rep.Hidden) != 1 {
		t.Fatalf("Hidden = %+v, want the overwritten object", rep.Hidden)
	}
	h := rep.Hidden[0]
	if !h.Overwritten || h.VersionID != original || !slices.Equal(h.Refused, []string{altered}) ||
		!strings.Contains(h.String(), "overwritten with other bytes (version "+altered+")") {
		t.Fatalf("Hidden = %+v (%s), want overwritten, recovered from %s, %s refused", h, h, original, altered)
	}
	opened, err := seal.Open(ctx, b.Offsite, "s", "b1", opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	var buf bytes.Buffer
	if _, err := opened.ReadObject(ctx, "b1.tar.gz", &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), objs["b1.tar.gz"]) {
		t.Fatalf("ReadObject of the overwritten object: %v (bytes equal Velero's: %v)", err, bytes.Equal(buf.Bytes(), objs["b1.tar.gz"]))
	}

	recs, after, err := seal.Recover(ctx, b.Offsite, "s", "b1", seal.RecoverOptions{VerifyOptions: opts})
	if err != nil || len(recs) != 1 || recs[0].Err != nil || len(after.Hidden) != 0 {
		t.Fatalf("Recover: %+v, %v; after: %+v", recs, err, after)
	}
	if got := sealtest.Versions(t, b.Offsite, key); got[0].VersionID != original {
		t.Errorf("after recover the current version is %s, want the sealed %s", got[0].VersionID, original)
	}
}

// TestRecoverReceipts: recover brings back hidden receipts too (a resumed
// seal reuses an object only on its receipt), each from a version signed
// by a pinned key for the digest its name carries: another receipt copied
// over it is refused. Before, recover left receipts hidden.
func TestRecoverReceipts(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	opts := seal.VerifyOptions{TrustedKeys: []crypto.VerifyKey{b.Signer.Public()}}
	sealLocked(t, b, "s", "b1")
	receipts := sealtest.Keys(sealtest.Snapshot(t, b.Offsite, seal.BackupPrefix("s", "b1")+"receipts/"))
	if len(receipts) < 2 {
		t.Fatalf("receipts %v, want at least two", receipts)
	}
	plain, swapped := receipts[0], receipts[1]
	sealtest.Put(t, b.Offsite, swapped, sealtest.Get(t, b.Offsite, plain)) // signed, but for another digest
	sealtest.Hide(t, b.Offsite, plain)
	sealtest.Hide(t, b.Offsite, swapped)

	recs, _, err := seal.Recover(ctx, b.Offsite, "s", "b1", seal.RecoverOptions{VerifyOptions: opts})
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	got := map[string]seal.Recovery{}
	for _, r := range recs {
		got[r.Key] = r
	}
	for _, key := range []string{plain, swapped} {
		r, ok := got[key]
		if !ok || r.Err != nil || r.Action == seal.ActionNone {
			t.Errorf("receipt %s: recovery %+v, want it brought back", key, r)
			continue
		}
		if _, err := b.Offsite.Stat(ctx, key); err != nil {
			t.Errorf("receipt %s after recover: %v", key, err)
		}
	}
	if r := got[swapped]; len(r.Refused) != 1 {
		t.Errorf("the swapped receipt's refused versions = %v, want the copy of another receipt", r.Refused)
	}
	if data := sealtest.Get(t, b.Offsite, swapped); bytes.Equal(data, sealtest.Get(t, b.Offsite, plain)) {
		t.Error("the swapped receipt was brought back from the copy of another receipt")
	}
}

// TestResealOverForgedSeal: sealing again a backup whose seal.json has a
// forged version over the genuine one (signed by an attacker's key, or
// garbage; versioned VersityGW), as a retried or resumed seal job does,
// returns the genuine seal as already sealed. It neither takes the forgery
// for its own nor refuses the backup, and writes nothing: no new version of
// seal.json over or around the forgery, no object rewritten. Recover is
// what makes the genuine version current again.
func TestResealOverForgedSeal(t *testing.T) {
	b := sealtest.NewVersionedBed(t)
	ctx := t.Context()
	forge := forger(t, b)
	for _, tc := range []struct {
		name   string
		forged func(name string) []byte
	}{
		{"signed", forge},
		{"garbage", func(string) []byte { return []byte("not a seal") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "reseal-" + tc.name
			forged := tc.forged(name) // first: the forger writes its own source backup
			sl, _ := sealLocked(t, b, "s", name)
			key := seal.SealKey("s", name)
			sealtest.Put(t, b.Offsite, key, forged)
			versions := len(sealtest.Versions(t, b.Offsite, key))
			before := sealtest.ETags(t, b.Offsite, seal.BackupPrefix("s", name))

			s := b.Sealer()
			s.Lock = &seal.Lock{Mode: storage.LockGovernance, RetainDays: 1}
			got, err := s.Seal(ctx, "s", name)
			if err != nil {
				t.Fatalf("Seal again over a forged seal.json: %v", err)
			}
			if got.Digest() != sl.Digest() || !bytes.Equal(got.Raw, sl.Raw) {
				t.Errorf("Seal again returned seal %s, want the genuine %s", got.Digest(), sl.Digest())
			}
			if n := len(sealtest.Versions(t, b.Offsite, key)); n != versions {
				t.Errorf("seal.json has %d versions after sealing again, want %d: the sealer wrote over or around the forgery", n, versions)
			}
			if cur := sealtest.Get(t, b.Offsite, key); !bytes.Equal(cur, forged) {
				t.Error("sealing again changed the current seal.json")
			}
			if after := sealtest.ETags(t, b.Offsite, seal.BackupPrefix("s", name)); !maps.Equal(after, before) {
				t.Errorf("sealing again rewrote objects:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
