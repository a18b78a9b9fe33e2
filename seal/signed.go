package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/safekeep-dev/safekeep/crypto"
)

// signedEnvelope carries a small signed record the sealer writes besides
// seal.json (the in-progress marker, object receipts): "doc" is the
// record's canonical JSON, "signature" signs exactly those bytes, as in
// seal.json. Records are told apart by their "format".
type signedEnvelope struct {
	Doc       json.RawMessage `json:"doc"`
	Signature *Signature      `json:"signature"`
}

// marshalSigned signs the canonical JSON of v with key.
func marshalSigned(v any, key crypto.SigningKey) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	doc, err := canonicalJSON(plain)
	if err != nil {
		return nil, err
	}
	return json.Marshal(signedEnvelope{Doc: doc, Signature: &Signature{
		Alg: SignatureAlg, KeyID: key.Public().KeyID(), Value: key.Sign(doc),
	}})
}

// parseSigned checks that data is a record of format signed by one of keys
// and decodes it strictly into v. A record that is not of that format, or
// not signed by a trusted key, wraps ErrUntrusted: nothing in it may be
// acted on.
func parseSigned(data []byte, format string, keys []crypto.VerifyKey, v any) error {
	var env signedEnvelope
	if err := decodeStrict(data, &env); err != nil || env.Signature == nil || len(env.Doc) == 0 {
		return fmt.Errorf("%w: not a signed %s record", ErrUntrusted, format)
	}
	if err := env.Signature.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	k, ok := findKey(keys, env.Signature.KeyID)
	if !ok {
		return fmt.Errorf("%w: signed by key %s", ErrUntrusted, env.Signature.KeyID)
	}
	doc, err := canonicalJSON(env.Doc)
	if err != nil || !bytes.Equal(doc, env.Doc) {
		return fmt.Errorf("%w: %s record is not in canonical form", ErrUntrusted, format)
	}
	if err := k.Verify(doc, env.Signature.Value); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if err := checkFormat(doc, format); err != nil {
		return fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	if err := decodeStrict(doc, v); err != nil {
		return errors.Join(ErrUntrusted, err)
	}
	return nil
}
