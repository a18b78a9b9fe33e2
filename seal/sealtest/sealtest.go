// Package sealtest builds sealed backups on a real S3 server (VersityGW from
// the test bed) for the tests of seal, restore and their callers.
package sealtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// Marker is plaintext placed in every synthetic backup (in the tarball and
// the logs); no offsite object may contain it.
const Marker = "PHI-MARKER-7f3a9c-patient-record"

// Bed is a real S3 server with a Velero-style source bucket and an offsite
// bucket (rooted at <prefix>/safekeep/v1/), plus keys.
type Bed struct {
	S3            *testbed.S3Server
	Source        storage.Store
	Offsite       storage.Store
	OffsiteBucket string
	Recipients    []crypto.Recipient
	Identities    []crypto.Identity
	IdentityText  string // the identity file's text, for the age CLI
	Signer        crypto.SigningKey
}

// offsitePrefix is where Bed.Offsite is rooted in the offsite bucket.
const offsitePrefix = "cluster-a/safekeep/v1"

// NewBed starts VersityGW with a source bucket "velero" (Velero's location,
// prefix cluster-a) and an offsite bucket "offsite" (object lock when lock),
// opens both stores, and makes an age identity and a signing key.
func NewBed(t testing.TB, lock bool) *Bed {
	t.Helper()
	return newBed(t, testbed.StartS3(t), lock)
}

func newBed(t testing.TB, s3 *testbed.S3Server, lock bool) *Bed {
	t.Helper()
	s3.CreateBucket(t, "velero", false)
	s3.CreateBucket(t, "offsite", lock)
	b := &Bed{S3: s3, OffsiteBucket: "offsite"}
	b.Source = OpenStore(t, s3.Config("velero", "cluster-a"))
	b.Offsite = OpenStore(t, s3.Config("offsite", offsitePrefix))
	b.Recipients, b.Identities, b.IdentityText = NewKeys(t)
	b.Signer = NewSigner(t)
	return b
}

// NewVersionedBed is NewBed on VersityGW keeping versions, with object lock
// on the offsite bucket, which is then versioned as on AWS: a plain DELETE
// there hides an object behind a delete marker instead of being refused.
func NewVersionedBed(t testing.TB) *Bed {
	t.Helper()
	return newBed(t, testbed.StartS3(t, testbed.S3Versioned()), true)
}

// Hide does what an attacker holding the bucket's credentials can do to a
// locked object on a versioned bucket: a plain DELETE, which adds a delete
// marker over it.
func Hide(t testing.TB, st storage.Store, key string) {
	t.Helper()
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
	if _, hidden := storage.Hidden(Versions(t, st, key)); !hidden {
		t.Fatalf("%s: a plain delete left no delete marker (is the bucket versioned?)", key)
	}
}

// Versions lists the versions of key, newest first.
func Versions(t testing.TB, st storage.Store, key string) []storage.Version {
	t.Helper()
	vs, err := storage.Versions(t.Context(), st, key)
	if err != nil {
		t.Fatalf("versions of %s: %v", key, err)
	}
	return vs
}

// OpenStore opens a store with the default retry policy, as Safekeep's
// commands do, or fails the test.
func OpenStore(t testing.TB, cfg storage.Config) storage.Store {
	t.Helper()
	st, err := storage.New(cfg)
	if err != nil {
		t.Fatalf("storage.New: %v", err)
	}
	return storage.WithRetry(st, storage.DefaultRetryPolicy())
}

// NewKeys makes an age identity and returns its recipient, the parsed
// identity and the identity file's text.
func NewKeys(t testing.TB) ([]crypto.Recipient, []crypto.Identity, string) {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	text := id.String() + "\n"
	ids, err := crypto.ParseIdentities(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	r, err := crypto.ParseRecipient(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return []crypto.Recipient{r}, ids, text
}

// NewSigner makes an ed25519 signing key.
func NewSigner(t testing.TB) crypto.SigningKey {
	t.Helper()
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Sealer returns a Sealer from the bed's source to its offsite store.
func (b *Bed) Sealer() *seal.Sealer {
	return &seal.Sealer{Source: b.Source, Offsite: b.Offsite, Recipients: b.Recipients, Signer: b.Signer, ClusterID: "cluster-a",
		Place: seal.PlaceOf(b.OffsiteBucket, "cluster-a")}
}

// VeleroBackup writes a Velero-style backup named name with the given phase
// into the source bucket and returns its objects' contents by name. tarSize
// sets the size of <name>.tar.gz.
func (b *Bed) VeleroBackup(t testing.TB, name, phase string, tarSize int) map[string][]byte {
	t.Helper()
	meta := fmt.Sprintf(`{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":%q,"namespace":"velero"},
"spec":{"includedNamespaces":["phi-app"],"storageLocation":"default"},
"status":{"phase":%q,"formatVersion":"1.1.0","startTimestamp":"2025-03-01T02:00:00Z",
"completionTimestamp":"2025-03-01T02:00:03Z","progress":{"totalItems":3,"itemsBackedUp":3}}}`, name, phase)
	resources := map[string][]string{
		"v1/Secret":    {"phi-app/db-credentials"},
		"v1/ConfigMap": {"phi-app/settings"},
		"v1/Namespace": {"phi-app"},
	}
	rl, _ := json.Marshal(resources)
	tar := make([]byte, tarSize)
	rng := rand.NewChaCha8([32]byte{byte(tarSize), byte(len(name))})
	_, _ = rng.Read(tar)
	copy(tar[len(tar)/2:], Marker)
	objs := map[string][]byte{
		"velero-backup.json":                     []byte(meta),
		name + ".tar.gz":                         tar,
		name + "-resource-list.json.gz":          Gzip(t, rl),
		name + "-logs.gz":                        Gzip(t, []byte("level=info msg=\"backup of "+Marker+"\"\n")),
		name + "-volumesnapshots.json.gz":        Gzip(t, []byte("[]")),
		name + "-podvolumebackups.json.gz":       {},                              // empty object
		name + "-itemoperations.json.gz":         bytes.Repeat([]byte{7}, 64<<10), // exactly one age chunk
		name + "-results.gz":                     Gzip(t, []byte(`{"errors":{},"warnings":{}}`)),
		"sub/" + name + "-csi-snapshots.json.gz": Gzip(t, []byte("[]")),
	}
	for n, data := range objs {
		Put(t, b.Source, seal.SourcePrefix(name)+n, data)
	}
	return objs
}

// Gzip compresses data.
func Gzip(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Put writes an object with its size known.
func Put(t testing.TB, st storage.Store, key string, data []byte) {
	t.Helper()
	if _, err := st.Put(t.Context(), key, bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// Get reads a whole object.
func Get(t testing.TB, st storage.Store, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return data
}

// ETags maps each current key under prefix to its ETag and time: what
// changes when anything there is rewritten.
func ETags(t testing.TB, st storage.Store, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, info := range Snapshot(t, st, prefix) {
		out[info.Key] = info.ETag + "@" + info.LastModified.String()
	}
	return out
}

// Snapshot lists every key under prefix with its size, ETag and time.
func Snapshot(t testing.TB, st storage.Store, prefix string) []storage.ObjectInfo {
	t.Helper()
	var out []storage.ObjectInfo
	for info, err := range st.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("list %s: %v", prefix, err)
		}
		out = append(out, info)
	}
	return out
}

// Keys returns the keys of a listing.
func Keys(infos []storage.ObjectInfo) []string {
	out := make([]string, len(infos))
	for i, info := range infos {
		out[i] = info.Key
	}
	return out
}

// HasKey reports whether a listing has key.
func HasKey(infos []storage.ObjectInfo, key string) bool {
	return slices.Contains(Keys(infos), key)
}

// SHA256 is the lower-case hex SHA-256 of data.
func SHA256(data []byte) string {
	s := sha256.Sum256(data)
	return fmt.Sprintf("%x", s)
}

// MustSeal seals a Completed synthetic backup and returns its contents.
func (b *Bed) MustSeal(t testing.TB, ctx context.Context, schedule, name string) (*seal.Seal, map[string][]byte) {
	t.Helper()
	objs := b.VeleroBackup(t, name, "Completed", 300<<10)
	sl, err := b.Sealer().Seal(ctx, schedule, name)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return sl, objs
}

// Damage changes one byte of offsite key where VersityGW's posix backend
// keeps it, behind the server's back: the damage at rest a failing disk
// does. A GET of it then fails the checksum stored with the object.
func (b *Bed) Damage(t testing.TB, key string) {
	t.Helper()
	path := filepath.Join(b.S3.Dir, b.OffsiteBucket, filepath.FromSlash(offsitePrefix+"/"+key))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("damage %s: %v", key, err)
	}
	defer func() { _ = f.Close() }() // the write is checked; close loses nothing more
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	at := st.Size() / 2
	one := make([]byte, 1)
	if _, err := f.ReadAt(one, at); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x40
	if _, err := f.WriteAt(one, at); err != nil {
		t.Fatalf("damage %s: %v", key, err)
	}
}
