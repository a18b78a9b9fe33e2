package sample

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"testing"
)

func TestContainsMarker(t *testing.T) {
	const marker = "PHI-MARKER-0123456789abcdef"
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	secretJSON := []byte(`{"kind":"Secret","data":{"password":"` + base64.StdEncoding.EncodeToString([]byte(marker)) + `"}}`)
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"raw", []byte("x" + marker + "y"), true},
		{"base64 in Secret JSON", secretJSON, true},
		{"gzip of Secret JSON", gz(secretJSON), true},
		{"gzip of gzip", gz(gz(secretJSON)), true},
		{"truncated gzip", gz(secretJSON)[:len(gz(secretJSON))-8], true},
		{"absent", []byte("nothing to see"), false},
		{"absent in gzip", gz([]byte("nothing to see")), false},
		{"other marker", gz([]byte("PHI-MARKER-fedcba9876543210")), false},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainsMarker(tt.in, marker, 3); got != tt.want {
				t.Errorf("containsMarker = %v, want %v", got, tt.want)
			}
		})
	}
}
