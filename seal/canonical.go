package seal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// canonicalJSON re-encodes a JSON value in Safekeep's canonical form: object
// keys sorted, no insignificant white space, numbers exactly as written,
// strings re-escaped by encoding/json with HTML escaping off. It is what seal
// signatures cover, so fields a newer writer adds are signed too.
//
// Duplicate object keys keep the last value, as encoding/json does; the seal
// parser decodes the canonical bytes, so what it reads is exactly what the
// signature covers.
func canonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not JSON: data after the value")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
