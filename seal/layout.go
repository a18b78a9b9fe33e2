package seal

import (
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Offsite layout, relative to the offsite store's root (which is already
// <prefix>/safekeep/v1/). See docs/layout.md.
const (
	// BackupsDir holds one folder per schedule, then per backup.
	BackupsDir = "backups/"
	// SigningKeyKey is the first signing key that sealed into this bucket.
	SigningKeyKey = "keys/signing.pub"
	// signingKeysDir holds every signing key that sealed, by key id.
	signingKeysDir = "keys/signing/"

	objectsDir   = "objects/"
	objectSuffix = ".age"
	manifestName = "manifest.json.age"
	sealName     = "seal.json"
	pendingName  = "sealing.json"

	// VeleroBackupJSON is the object Velero writes last with the Backup's
	// metadata and status.
	VeleroBackupJSON = "velero-backup.json"

	maxObjectName = 512
)

// BackupPrefix is the offsite folder of one sealed backup, ending in "/".
func BackupPrefix(schedule, backup string) string {
	return BackupsDir + schedule + "/" + backup + "/"
}

// ObjectsPrefix is the offsite folder of a backup's encrypted objects.
func ObjectsPrefix(schedule, backup string) string {
	return BackupPrefix(schedule, backup) + objectsDir
}

// ObjectKey is the offsite key of the encrypted copy of Velero object name.
func ObjectKey(schedule, backup, name string) string {
	return ObjectsPrefix(schedule, backup) + name + objectSuffix
}

// ManifestKey is the offsite key of a backup's encrypted manifest.
func ManifestKey(schedule, backup string) string {
	return BackupPrefix(schedule, backup) + manifestName
}

// SealKey is the offsite key of a backup's seal, written last.
func SealKey(schedule, backup string) string {
	return BackupPrefix(schedule, backup) + sealName
}

// PendingKey is the offsite key of the marker a seal in progress leaves: it
// pins the recipients and retention of a seal that a crash interrupted.
func PendingKey(schedule, backup string) string {
	return BackupPrefix(schedule, backup) + pendingName
}

// SigningKeyArchiveKey is where the public key with the given key id
// ("sha256:<hex>") is published, so seals made before and after a key
// rotation all verify from the bucket.
func SigningKeyArchiveKey(keyID string) string {
	return signingKeysDir + strings.TrimPrefix(keyID, "sha256:") + ".pub"
}

// SourcePrefix is the folder of Velero backup in its storage location
// (relative to the location's prefix).
func SourcePrefix(backup string) string { return "backups/" + backup + "/" }

// ResourceListName is the Velero object holding a backup's resource list.
func ResourceListName(backup string) string { return backup + "-resource-list.json.gz" }

// objectNameFromKey returns the Velero object name of an offsite object key
// under prefix, or false when the key is not an encrypted object.
func objectNameFromKey(prefix, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, objectSuffix)
}

// ValidateName checks a schedule or backup name: a DNS-1123 subdomain, as
// Kubernetes object names are (lower case, digits, '-' and '.', at most 253
// characters), so it can never hold a slash or "..". what names the field
// in the error ("schedule", "backup").
func ValidateName(what, name string) error {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("invalid %s name %q: %s", what, name, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateObjectName checks a Velero object name (a key relative to the
// backup's folder) before it is used as a key suffix or a file path: not
// empty, valid UTF-8 without control characters or backslashes, relative,
// and no empty, "." or ".." path element.
func ValidateObjectName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("invalid object name: empty")
	case len(name) > maxObjectName:
		return fmt.Errorf("invalid object name %q: longer than %d bytes", name[:64]+"...", maxObjectName)
	case !utf8.ValidString(name):
		return fmt.Errorf("invalid object name %q: not UTF-8", name)
	case strings.ContainsAny(name, "\\"):
		return fmt.Errorf("invalid object name %q: contains a backslash", name)
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r): // C0, DEL and C1
			return fmt.Errorf("invalid object name %q: contains a control character", name)
		case unicode.Is(unicode.Bidi_Control, r):
			// A right-to-left override makes a printed name read as
			// another one (evil\u202egpj.exe shows as evilexe.jpg).
			return fmt.Errorf("invalid object name %q: contains a bidirectional control character", name)
		}
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("invalid object name %q: empty, \".\" or \"..\" path element", name)
		}
	}
	if path.Clean(name) != name {
		return fmt.Errorf("invalid object name %q: not a clean path", name)
	}
	return nil
}
