package crypto

import (
	"crypto/sha256"
	"encoding/hex"
)

// Fingerprint returns "sha256:" and the first 16 bytes, in hex, of the
// SHA-256 of a public key's text. Seals record fingerprints, not keys, so
// that an auditor can tell which keys could open a backup.
func Fingerprint(publicKey string) string {
	sum := sha256.Sum256([]byte(publicKey))
	return "sha256:" + hex.EncodeToString(sum[:16])
}
