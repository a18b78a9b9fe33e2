package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/audit/audittest"
	"github.com/safekeep-dev/safekeep/crypto"
)

func TestAuditVerify(t *testing.T) {
	b := newBed(t)
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	st := audittest.OpenStore(t, b.s3.Config(plainBucket, "cluster-a/safekeep/v1"))
	signer, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.GenerateSigningKey()
	// The log's key is one the target trusts for audit entries: pinned by
	// default. A target naming none, or another key, is the attack below.
	unnamed := b.writeTarget(t, "target-no-keys.yaml", plainBucket, false, id.Recipient().String())
	b.auditKeys = []string{other.Public().String()}
	otherKey := b.writeTarget(t, "target-other-key.yaml", plainBucket, false, id.Recipient().String())
	b.auditKeys = []string{signer.Public().String()}
	target := b.writeTarget(t, "target.yaml", plainBucket, false, id.Recipient().String())
	b.auditKeys = nil
	// Segments of 2: entries 1-4 come from segments, 5 from its object.
	head := audittest.WriteLog(t, st, signer, 5, audittest.WriteOptions{SegmentSize: 2})
	var entries []*audit.Entry
	for e, err := range audit.Read(t.Context(), st, audit.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	pub := b.write(t, "signing.pub", signer.Public().String()+"\n")

	out := b.ok(t, "audit", "verify", "--target-file", target)
	if !strings.Contains(out, "intact: 5 entries") || !strings.Contains(out, head.Hash) || !strings.Contains(out, "4 of 5 entries from checkpoint segments") ||
		!strings.Contains(out, "signed by key "+signer.Public().KeyID()+", trusted: spec.auditKeys[0] of target file "+target) {
		t.Errorf("audit verify printed:\n%s", out)
	}
	// The keys published in the bucket are never trusted unasked.
	checkOneLine(t, b.run(t, "audit", "verify", "--target-file", unnamed), exitFailure, "names no key to trust for audit entries")
	out = b.ok(t, "audit", "verify", "--target-file", unnamed, "--trust-bucket-key")
	if !strings.Contains(out, "intact: 5 entries") || !strings.Contains(out, "published in the bucket, trusted on --trust-bucket-key only") {
		t.Errorf("audit verify --trust-bucket-key printed:\n%s", out)
	}
	checkOneLine(t, b.run(t, "audit", "verify", "--target-file", target, "--trust-bucket-key"), exitUsage, "--trust-bucket-key is only for a target that names no key")
	checkOneLine(t, b.run(t, "audit", "verify", "--target-file", otherKey), exitFailure,
		"audit verify: audit log is not intact: entry 1 ("+audit.EntryPrefix(1))
	if out := b.ok(t, "audit", "verify", "--target-file", target, "--deep"); !strings.Contains(out, "intact: 5 entries") || !strings.Contains(out, "0 of 5 entries from checkpoint segments") {
		t.Errorf("audit verify --deep printed:\n%s", out)
	}
	out = b.ok(t, "audit", "verify", "--target-file", target, "--verify-key", pub, "-o", "json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Entries != 5 || rep.HeadHash != head.Hash || !rep.PinnedKeys {
		t.Errorf("audit verify -o json printed %s (%v)", out, err)
	}

	// --anchor: the head kept outside the bucket. Hiding entry 5 leaves a
	// log that verifies, shorter; the anchor catches it.
	anchor := audit.Anchor{Seq: head.Seq, Hash: head.Hash}.String()
	if out := b.ok(t, "audit", "verify", "--target-file", target, "--anchor", anchor); !strings.Contains(out, "anchor    ok    entry 5") {
		t.Errorf("audit verify --anchor printed:\n%s", out)
	}
	checkOneLine(t, b.run(t, "audit", "verify", "--target-file", target, "--anchor", "5"), exitUsage, "--anchor")
	for _, key := range []string{audit.EntryKey(head.Seq, head.Hash), audit.ClaimKey(head.Seq)} {
		if err := st.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	if out := b.ok(t, "audit", "verify", "--target-file", target); !strings.Contains(out, "intact: 4 entries") {
		t.Errorf("without an anchor a log cut short verifies (the attack):\n%s", out)
	}
	r := b.run(t, "audit", "verify", "--target-file", target, "--anchor", anchor)
	checkOneLine(t, r, exitFailure, "the log ends at entry 4, the anchor is entry 5")
	if !strings.Contains(r.out, "anchor    FAIL") || !strings.Contains(r.out, "NOT INTACT") {
		t.Errorf("audit verify --anchor after hiding the head:\n%s", r.out)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		before func()
		code   int
		stderr string
	}{
		{name: "no target", args: []string{"audit", "verify"}, code: 2, stderr: "--target-file is required"},
		{name: "bad format", args: []string{"audit", "verify", "--target-file", target, "-o", "yaml"}, code: 2, stderr: `-o "yaml"`},
		{name: "other key pinned", args: []string{"audit", "verify", "--target-file", target, "--verify-key", other.Public().String()},
			code: 1, stderr: "audit verify: audit log is not intact: entry 1 (" + audit.EntryPrefix(1)},
		{name: "entry removed", args: []string{"audit", "verify", "--target-file", target},
			before: func() {
				if err := st.Delete(t.Context(), audit.EntryKey(3, entries[2].Hash)); err != nil {
					t.Fatal(err)
				}
			},
			code: 1, stderr: "audit verify: audit log is not intact: entry 3 (" + audit.EntryPrefix(3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			r := b.run(t, tc.args...)
			if r.code != tc.code || !strings.HasPrefix(r.err, "safekeep: ") || strings.Count(r.err, "\n") != 1 || !strings.Contains(r.err, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", r.code, r.err, tc.code, tc.stderr)
			}
		})
	}
	r = b.run(t, "audit", "verify", "--target-file", target)
	if !strings.Contains(r.err, "missing: entry 3 removed") || !strings.Contains(r.out, "NOT INTACT") {
		t.Errorf("a removed entry: stdout %q stderr %q", r.out, r.err)
	}
}
