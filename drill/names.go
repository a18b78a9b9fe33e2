package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxLabel is the length limit of a DNS-1123 label (a namespace name).
const maxLabel = 63

// hashLen is how many hex digits of SHA-256 a shortened name keeps.
const hashLen = 10

// ScratchNamespace returns the scratch namespace a drill run restores
// source into: "<prefix><drill>-<run>-<source>" when that is a valid
// namespace name (a DNS-1123 label of at most 63 characters). Otherwise
// characters a label may not hold become '-', letters are lower-cased, the
// name is cut to fit, and it ends in "-" and 10 hex digits of the SHA-256
// of the full name, so different inputs still give different names. The
// result is deterministic: the same inputs always give the same name.
func ScratchNamespace(prefix, drill, run, source string) string {
	full := prefix + drill + "-" + run + "-" + source
	name := sanitizeLabel(full)
	if len(name) <= maxLabel && name == full {
		return name
	}
	sum := sha256.Sum256([]byte(full))
	suffix := hex.EncodeToString(sum[:])[:hashLen]
	if len(name) > maxLabel-1-hashLen {
		name = name[:maxLabel-1-hashLen]
	}
	name = strings.TrimRight(name, "-")
	if name == "" {
		return "d-" + suffix
	}
	return name + "-" + suffix
}

// sanitizeLabel lower-cases s, turns every character a DNS label may not
// hold into '-', and trims '-' at both ends (a label starts and ends with
// a letter or digit).
func sanitizeLabel(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}
