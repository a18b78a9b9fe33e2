package seal

import (
	"encoding/json"
	"errors"
	"fmt"
)

// FormatManifestV1 is the format of manifest.json (stored encrypted as
// manifest.json.age). See docs/manifest.md.
const FormatManifestV1 = "safekeep.dev/manifest/v1"

// Manifest is the encrypted companion of a seal: what only a key holder may
// learn about the backup. Its encoding (Marshal) is deterministic: the same
// backup contents give the same bytes, so a resumed seal rebuilds it exactly.
type Manifest struct {
	// Format is FormatManifestV1.
	Format   string `json:"format"`
	Schedule string `json:"schedule"`
	Backup   string `json:"backup"`
	// Objects are the Velero objects, sorted by name, with the size and
	// SHA-256 of their plaintext: the bytes Velero wrote.
	Objects []Object `json:"objects"`
	// Resources is the backup's resource list from
	// <backup>-resource-list.json.gz, as Velero writes it: group/version
	// and kind ("apps/v1/Deployment", "v1/Secret") to "namespace/name"
	// items (cluster-scoped items have no namespace part). Nil when the
	// backup has no resource list.
	Resources map[string][]string `json:"resources,omitempty"`
	// Volumes are the backup's pod volumes whose data is in a sealed kopia
	// repository, sorted by namespace, pod and volume (docs/volumes.md).
	Volumes []VolumeRecord `json:"volumes,omitempty"`
	// Repositories are those repositories, sorted by path, with the blobs
	// that restore the volumes' snapshots and the repository password.
	Repositories []RepositoryRecord `json:"repositories,omitempty"`
	// NotCovered are the backup's volumes whose data is not sealed, with
	// why, sorted by namespace, PVC, pod and volume (docs/volumes.md,
	// "Coverage").
	NotCovered []UncoveredVolume `json:"notCovered,omitempty"`
}

// Marshal encodes the manifest deterministically (compact JSON, struct
// fields in order, map keys sorted) after checking it.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return out, nil
}

// Object returns the entry for a Velero object name.
func (m *Manifest) Object(name string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// ParseManifest parses a decrypted manifest strictly: a known format, every
// required field present and well formed. Unknown fields are ignored, so a
// newer writer may add some; a change an older reader must not ignore bumps
// the format. Errors wrap ErrBadManifest.
func ParseManifest(data []byte) (*Manifest, error) {
	m, err := parseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadManifest, err)
	}
	return m, nil
}

func parseManifest(data []byte) (*Manifest, error) {
	if len(data) > maxSealSize {
		return nil, fmt.Errorf("manifest is larger than %d bytes", maxSealSize)
	}
	if _, err := canonicalJSON(data); err != nil { // one value, nothing after it
		return nil, err
	}
	if err := checkFormat(data, FormatManifestV1); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	if m.Format != FormatManifestV1 {
		return fmt.Errorf("unknown format %q (this version reads %q)", m.Format, FormatManifestV1)
	}
	if err := ValidateName("schedule", m.Schedule); err != nil {
		return err
	}
	if err := ValidateName("backup", m.Backup); err != nil {
		return err
	}
	if err := validateObjects(m.Objects); err != nil {
		return err
	}
	for kind, items := range m.Resources {
		if kind == "" {
			return errors.New("resources: empty kind")
		}
		if items == nil {
			return fmt.Errorf("resources: %s: null item list", kind)
		}
	}
	return m.validateVolumes()
}

// matches checks that the manifest describes the same backup and the same
// object names as the seal.
func (m *Manifest) matches(s *Seal) error {
	if m.Schedule != s.Schedule || m.Backup != s.Backup {
		return fmt.Errorf("%w: it describes %s/%s", ErrBadManifest, m.Schedule, m.Backup)
	}
	if len(m.Objects) != len(s.Objects) {
		return fmt.Errorf("%w: %d objects, the seal has %d", ErrBadManifest, len(m.Objects), len(s.Objects))
	}
	for i := range m.Objects {
		if m.Objects[i].Name != s.Objects[i].Name {
			return fmt.Errorf("%w: object %q is not in the seal", ErrBadManifest, m.Objects[i].Name)
		}
	}
	return m.matchesVolumes(s)
}
