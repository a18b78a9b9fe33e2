package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestStageChecksBeforeStaging: someone who can write to the (unlocked)
// offsite bucket replaces a sealed object with other plaintext encrypted
// to the same recipients, of the same size, so the listing and sizes
// check out. Staging finds the digest mismatch and writes none of that
// plaintext to the staging bucket, small object or large.
func TestStageChecksBeforeStaging(t *testing.T) {
	b := sealtest.NewBed(t, false)
	ctx := t.Context()
	b.S3.CreateBucket(t, "staging", false)
	staging := &putRecorder{Store: sealtest.OpenStore(t, b.S3.Config("staging", ""))}
	for _, tc := range []struct {
		backup, object string
		tarSize        int
	}{
		{"small", "small-logs.gz", 1 << 10},
		{"large", "large.tar.gz", maxStagedInMemory + 1<<20},
	} {
		t.Run(tc.backup, func(t *testing.T) {
			objs := b.VeleroBackup(t, tc.backup, "Completed", tc.tarSize)
			if _, err := b.Sealer().Seal(ctx, "manual", tc.backup); err != nil {
				t.Fatal(err)
			}
			other := make([]byte, len(objs[tc.object]))
			_, _ = rand.Read(other)
			copy(other, "FORGED-PLAINTEXT")
			var ct bytes.Buffer
			w, err := crypto.Encrypt(&ct, b.Recipients)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(other); err != nil || w.Close() != nil {
				t.Fatal(err)
			}
			sealtest.Put(t, b.Offsite, seal.ObjectKey("manual", tc.backup, tc.object), ct.Bytes())

			pub := b.Signer.Public()
			opened, err := seal.Open(ctx, b.Offsite, "manual", tc.backup, seal.VerifyOptions{VerifyKey: &pub, Identities: b.Identities})
			if err != nil {
				t.Fatalf("open: %v (the forged object has the sealed size)", err)
			}
			r := &runner{progress: &progress{}, now: time.Now, opts: Options{Backup: tc.backup, StagedName: "staged-" + tc.backup, Staging: staging, Concurrency: 2}}
			st, err := r.stage(ctx, opened)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.findings) != 1 || st.findings[0].check != CheckSeal || !errors.Is(st.findings[0].err, seal.ErrObjectMismatch) {
				t.Fatalf("findings %+v, want the forged %s failing the seal check", st.findings, tc.object)
			}
			forged := stagedKey("staged-"+tc.backup, tc.backup, tc.object)
			if staging.started(forged) {
				t.Errorf("the forged object's plaintext was sent to the staging bucket (%s) before its digest was checked", forged)
			}
			for _, info := range sealtest.Snapshot(t, staging, "backups/staged-"+tc.backup+"/") {
				if strings.HasSuffix(info.Key, strings.TrimPrefix(tc.object, tc.backup)) {
					t.Errorf("the forged object's plaintext was staged: %s (%d bytes)", info.Key, info.Size)
				}
				if data := sealtest.Get(t, staging, info.Key); bytes.Contains(data, []byte("FORGED-PLAINTEXT")) {
					t.Errorf("%s holds the forged plaintext", info.Key)
				}
			}
		})
	}
}

// putRecorder is the staging store, noting each key a Put was started for.
type putRecorder struct {
	storage.Store
	mu   sync.Mutex
	keys map[string]bool
}

func (p *putRecorder) Put(ctx context.Context, key string, r io.Reader, opts storage.PutOptions) (storage.ObjectInfo, error) {
	p.mu.Lock()
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	p.keys[key] = true
	p.mu.Unlock()
	return p.Store.Put(ctx, key, r, opts)
}

func (p *putRecorder) started(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[key]
}
