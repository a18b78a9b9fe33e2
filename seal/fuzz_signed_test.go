package seal

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
)

// FuzzParseSigned feeds the parser of the signed records a seal leaves in
// the bucket (receipts, sealing.json markers): nothing panics, and every
// refusal wraps ErrUntrusted.
func FuzzParseSigned(f *testing.F) {
	key := signingKey(f)
	for _, v := range []any{
		receipt{Format: formatReceiptV1, Schedule: "s", Backup: "b", Object: "b.tar.gz", Size: 10, SHA256: strings.Repeat("a", 64)},
		pending{Format: formatPendingV2, Schedule: "s", Backup: "b", StartedAt: time.Unix(0, 0).UTC(), Recipients: []string{"x"}},
	} {
		data, err := marshalSigned(v, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"doc":{"format":"safekeep.dev/receipt/v1"},"signature":{"alg":"ed25519","keyId":"x","value":""}}`))
	keys := []crypto.VerifyKey{key.Public()}
	f.Fuzz(func(t *testing.T, data []byte) {
		for format, v := range map[string]any{formatReceiptV1: &receipt{}, formatPendingV2: &pending{}} {
			if err := parseSigned(data, format, keys, v); err != nil && !errors.Is(err, ErrUntrusted) {
				t.Fatalf("parseSigned %s: %v wraps no ErrUntrusted", format, err)
			}
		}
	})
}
