package auditlog

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/audit"
)

// An outbox item keeps the head known before its first try ("after"), and
// a retry takes only a later matching entry for it; an item without it
// (written by an older controller) or with one that does not parse takes
// any matching entry, as before. Pure logic: the bed tests are in
// identical_test.go.
func TestOutboxAfter(t *testing.T) {
	entry := func(seq uint64) *audit.Entry {
		return &audit.Entry{Seq: seq, Actor: DefaultActor, Kind: audit.KindSeal, Subject: "phi/nightly/b1"}
	}
	for _, c := range []struct {
		after   *string
		matches []uint64 // seqs 3, 4, 5: which match
	}{
		{nil, []uint64{3, 4, 5}},
		{ptr("4"), []uint64{5}},
		{ptr("0"), []uint64{3, 4, 5}},
		{ptr("x"), []uint64{3, 4, 5}},
	} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "safekeep-audit-x", Namespace: "ns"}, Data: map[string]string{
			outboxCreated: "2026-12-04T10:00:00Z", outboxActor: DefaultActor, outboxKind: string(audit.KindSeal), outboxSubject: "phi/nightly/b1",
		}}
		if c.after != nil {
			cm.Data[outboxAfter] = *c.after
		}
		p := fromConfigMap(cm)
		var got []uint64
		for seq := uint64(3); seq <= 5; seq++ {
			if p.matches(entry(seq)) {
				got = append(got, seq)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(c.matches) {
			t.Errorf("after %v: matches %v, want %v", c.after, got, c.matches)
		}
	}
}

func ptr(s string) *string { return &s }
