package audit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/canonical"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/seal/sealtest"
	"github.com/safekeep-dev/safekeep/storage"
)

// The tampering cases run on a bucket without object lock, where the
// objects can be rewritten (TestLockedLogRefusesOverwriteAndDelete shows a
// locked bucket refusing the same edits). Each case gets a fresh log of six
// entries and names the first offending entry.
func TestVerifyDetectsTampering(t *testing.T) {
	b := audittest.NewBed(t)
	const n = 6
	type log struct {
		st      storage.Store
		entries []*audit.Entry
		data    [][]byte
		forged  string // the key of an object a tampering added
	}
	// resign signs e again with signer, as written by someone holding it.
	resign := func(t *testing.T, e audit.Entry, signer crypto.SigningKey) (*audit.Entry, []byte) {
		t.Helper()
		data, err := audit.Sign(&e, signer)
		if err != nil {
			t.Fatal(err)
		}
		return &e, data
	}
	other := sealtest.NewSigner(t)
	for i, tc := range []struct {
		name   string
		tamper func(t *testing.T, l *log)
		want   error
		seq    uint64
		key    func(l *log) string // the object named; nil: entry seq's
		msg    string
	}{
		{
			name: "edited",
			tamper: func(t *testing.T, l *log) {
				data := []byte(strings.Replace(string(l.data[2]), `"objects":9`, `"objects":8`, 1))
				put(t, l.st, audit.EntryKey(3, l.entries[2].Hash), data)
			},
			want: audit.ErrChanged, seq: 3, msg: "content hashes to",
		},
		{
			name: "edited and hashed again",
			tamper: func(t *testing.T, l *log) {
				e := *l.entries[2]
				e.Subject = "someone-else"
				_, data := resign(t, e, other)
				put(t, l.st, audit.EntryKey(3, l.entries[2].Hash), data)
			},
			want: audit.ErrChanged, seq: 3, msg: "is not the one its object name records",
		},
		{
			name: "removed",
			tamper: func(t *testing.T, l *log) {
				del(t, l.st, audit.EntryKey(4, l.entries[3].Hash))
			},
			want: audit.ErrMissing, seq: 4, msg: "entry 4 removed: the next object is " + audit.EntryPrefix(5),
		},
		{
			name: "removed with its claim",
			tamper: func(t *testing.T, l *log) {
				del(t, l.st, audit.EntryKey(4, l.entries[3].Hash))
				del(t, l.st, audit.ClaimKey(4))
			},
			want: audit.ErrMissing, seq: 4, key: func(*log) string { return audit.EntryPrefix(4) + "*.json" },
			msg: "entry 4 removed",
		},
		{
			name: "reordered",
			tamper: func(t *testing.T, l *log) {
				put(t, l.st, audit.EntryKey(3, l.entries[2].Hash), l.data[3])
				put(t, l.st, audit.EntryKey(4, l.entries[3].Hash), l.data[2])
			},
			want: audit.ErrOutOfOrder, seq: 3, msg: "the object of entry 3 holds entry 4",
		},
		{
			name: "replayed",
			tamper: func(t *testing.T, l *log) {
				put(t, l.st, audit.EntryKey(n+1, l.entries[1].Hash), l.data[1])
			},
			want: audit.ErrReplayed, seq: n + 1, key: func(l *log) string { return audit.EntryKey(n+1, l.entries[1].Hash) },
			msg: "holds a copy of entry 2",
		},
		{
			name: "bad signature",
			tamper: func(t *testing.T, l *log) {
				e := *l.entries[2]
				e.Signature.Value = other.Sign([]byte("something else"))
				e.Signature.KeyID = b.Signer.Public().KeyID()
				put(t, l.st, audit.EntryKey(3, e.Hash), marshal(t, &e))
			},
			want: audit.ErrBadSignature, seq: 3, msg: "does not verify under key",
		},
		{
			name: "signed by an unknown key",
			tamper: func(t *testing.T, l *log) {
				_, data := resign(t, *l.entries[2], other) // same content, same hash
				put(t, l.st, audit.EntryKey(3, l.entries[2].Hash), data)
			},
			want: audit.ErrUnknownKey, seq: 3, msg: "is not published in the bucket",
		},
		{
			name: "forked",
			tamper: func(t *testing.T, l *log) {
				e := *l.entries[4]
				e.Subject = "a second entry 5"
				f, data := resign(t, e, b.Signer)
				l.forged = audit.EntryKey(5, f.Hash)
				put(t, l.st, l.forged, data)
			},
			// The problem is at the second object of the two, in key order.
			want: audit.ErrForked, seq: 5, key: func(l *log) string { return max(l.forged, audit.EntryKey(5, l.entries[4].Hash)) },
			msg: "two objects hold entry 5",
		},
		{
			name: "spliced by the key holder",
			tamper: func(t *testing.T, l *log) {
				e := *l.entries[3]
				e.Prev = l.entries[0].Hash
				f, data := resign(t, e, b.Signer)
				del(t, l.st, audit.EntryKey(4, l.entries[3].Hash))
				l.forged = audit.EntryKey(4, f.Hash)
				put(t, l.st, l.forged, data)
			},
			want: audit.ErrOutOfOrder, seq: 4, key: func(l *log) string { return l.forged }, msg: "is not the hash of entry 3",
		},
		{
			name: "malformed",
			tamper: func(t *testing.T, l *log) {
				put(t, l.st, audit.EntryKey(2, l.entries[1].Hash), []byte(`{"format":"safekeep.dev/audit/v1","seq":2`))
			},
			want: audit.ErrMalformed, seq: 2, msg: "not JSON",
		},
		{
			name: "a stray object",
			tamper: func(t *testing.T, l *log) {
				put(t, l.st, "audit/notes.txt", []byte("hello"))
			},
			want: audit.ErrMalformed, seq: 0, key: func(*log) string { return "audit/notes.txt" }, msg: "not an audit entry's name",
		},
		{
			name: "an entry copied to another shard",
			tamper: func(t *testing.T, l *log) {
				l.forged = wrongShard(audit.EntryKey(3, l.entries[2].Hash))
				put(t, l.st, l.forged, l.data[2])
			},
			want: audit.ErrMalformed, seq: 0, key: func(l *log) string { return l.forged }, msg: "in the shard of its number",
		},
		{
			name: "an entry moved to another shard",
			tamper: func(t *testing.T, l *log) {
				l.forged = wrongShard(audit.EntryKey(3, l.entries[2].Hash))
				put(t, l.st, l.forged, l.data[2])
				del(t, l.st, audit.EntryKey(3, l.entries[2].Hash))
			},
			want: audit.ErrMalformed, seq: 0, key: func(l *log) string { return l.forged }, msg: "in the shard of its number",
		},
		{
			name: "an entry under the unsharded name",
			tamper: func(t *testing.T, l *log) {
				l.forged = strings.Replace(audit.EntryKey(3, l.entries[2].Hash), "00000000000000000/", "", 1)
				put(t, l.st, l.forged, l.data[2])
			},
			want: audit.ErrMalformed, seq: 0, key: func(l *log) string { return l.forged }, msg: "not an audit entry's name",
		},
		{
			name: "a stray folder",
			tamper: func(t *testing.T, l *log) {
				put(t, l.st, "audit/notes/a.txt", []byte("hello"))
			},
			want: audit.ErrMalformed, seq: 0, key: func(*log) string { return "audit/notes/a.txt" }, msg: "not an audit entry's name",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &log{st: audittest.OpenStore(t, b.S3.Config("plain", fmt.Sprintf("case-%d/safekeep/v1", i)))}
			var prev *audit.Entry
			for j := range n {
				e, data, err := audittest.Entry(j, prev, b.Signer)
				if err != nil {
					t.Fatal(err)
				}
				put(t, l.st, audit.ClaimKey(e.Seq), data)
				put(t, l.st, audit.EntryKey(e.Seq, e.Hash), data)
				l.entries, l.data, prev = append(l.entries, e), append(l.data, data), e
			}
			publish(t, l.st, b.Signer)
			mustVerify(t, l.st, audit.VerifyOptions{})
			tc.tamper(t, l)
			rep, err := audit.Verify(t.Context(), l.st, audit.VerifyOptions{})
			var ve *audit.VerifyError
			if !errors.Is(err, tc.want) || !errors.As(err, &ve) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			key := ""
			if tc.seq > 0 && tc.seq <= n {
				key = audit.EntryKey(tc.seq, l.entries[tc.seq-1].Hash)
			}
			if tc.key != nil {
				key = tc.key(l)
			}
			p := ve.First
			if p.Seq != tc.seq || p.Key != key || !strings.Contains(p.Message, tc.msg) {
				t.Errorf("first problem %q, want entry %d (%s) with %q", p, tc.seq, key, tc.msg)
			}
			if rep.Intact() || rep.Problems[0].Seq != tc.seq {
				t.Errorf("report %+v", rep)
			}
			t.Logf("%v", err)
		})
	}
}

// wrongShard moves an entry key of shard 0 to shard 1.
func wrongShard(key string) string {
	return strings.Replace(key, "audit/00000000000000000/", "audit/00000000000000001/", 1)
}

func del(t *testing.T, st storage.Store, key string) {
	t.Helper()
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

func publish(t *testing.T, st storage.Store, signer crypto.SigningKey) {
	t.Helper()
	if err := seal.PublishSigningKey(t.Context(), st, signer.Public()); err != nil {
		t.Fatal(err)
	}
}

// marshal encodes e as an entry object, whatever its hash and signature.
func marshal(t *testing.T, e *audit.Entry) []byte {
	t.Helper()
	raw, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	data, err := canonical.JSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
