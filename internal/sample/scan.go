package sample

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
)

// maxGunzip bounds how much a nested gzip stream may expand while scanning.
const maxGunzip = 256 << 20

// ContainsMarker reports whether b shows marker in a form a plaintext leak of
// a Velero backup would: as is, base64-encoded (Secret data in Velero's JSON),
// or inside gzip streams (Velero's .tar.gz and .json.gz), nested up to depth.
func ContainsMarker(b []byte, marker string, depth int) bool {
	m := []byte(marker)
	if bytes.Contains(b, m) ||
		bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(m))) ||
		bytes.Contains(b, []byte(base64.RawStdEncoding.EncodeToString(m))) {
		return true
	}
	if depth == 0 || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		return false
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return false
	}
	// A damaged stream still yields what it decoded before the damage.
	plain, _ := io.ReadAll(io.LimitReader(zr, maxGunzip))
	return ContainsMarker(plain, marker, depth-1)
}
