// Package canonical holds Safekeep's canonical JSON encoding: what seal and
// audit-entry signatures and hashes cover (docs/seal.md, docs/audit.md).
package canonical

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// JSON re-encodes a JSON value in Safekeep's canonical form: object keys
// sorted, no insignificant white space, numbers exactly as written,
// strings re-escaped by encoding/json with HTML escaping off. Fields a
// newer writer adds are covered too.
//
// Duplicate object keys keep the last value, as encoding/json does; parsers
// decode the canonical bytes, so what they read is exactly what a signature
// over them covers.
func JSON(data []byte) ([]byte, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return Encode(v)
}

// Decode reads one JSON value, numbers as json.Number, and fails when
// anything but white space follows it.
func Decode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not JSON: data after the value")
	}
	return v, nil
}

// Encode writes v (as decoded by encoding/json with UseNumber: maps,
// slices, strings, json.Number, bools, nil) in canonical form.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("re-encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
