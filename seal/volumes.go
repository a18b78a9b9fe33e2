package seal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// VolumesDir holds the sealed kopia repositories: each blob sealed once and
// shared by every backup that needs it. See docs/volumes.md.
const VolumesDir = "volumes/"

// VolumeRepoPath is the offsite folder of the sealed copy of the kopia
// repository of namespace in backup storage location bsl, whose kopia
// unique ID is uniqueID (hex), encrypted to the recipients whose
// RecipientsTag is tag: an age file does not say whom it is encrypted to,
// so blobs shared between seals are shared only by seals to the same
// recipients (a rotation starts a new copy).
func VolumeRepoPath(bsl, namespace, uniqueID, tag string) string {
	return VolumesDir + bsl + "/" + namespace + "/" + uniqueID + "/" + tag + "/"
}

// RecipientsTag names a set of recipients by their sorted fingerprints: the
// first 16 hex digits of the SHA-256 of them, one per line.
func RecipientsTag(fingerprints []string) string {
	sorted := slices.Sorted(slices.Values(fingerprints))
	h := sha256.Sum256([]byte(strings.Join(sorted, "\n") + "\n"))
	return hex.EncodeToString(h[:8])
}

var kopiaBlobID = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,200}$`)

// mutableBlobs are the kopia blobs whose name is not tied to their content
// (the repository's identity); their sealed key carries the plaintext
// digest, so a changed one is a new sealed blob, never an overwrite.
var mutableBlobs = map[string]bool{"kopia.repository": true, "kopia.blobcfg": true, "udmrepo.Repository": true}

// VolumeBlobKey is the offsite key of a sealed kopia blob of the repository
// at repoPath: blobs/<id>.age, or, for a blob whose name is not tied to its
// content, blobs/<id>.<plaintext SHA-256>.age.
func VolumeBlobKey(repoPath, id, plainSHA string) string {
	if mutableBlobs[id] {
		return repoPath + "blobs/" + id + "." + plainSHA + objectSuffix
	}
	return repoPath + "blobs/" + id + objectSuffix
}

// Password is a kopia repository password. It prints as a placeholder; its
// JSON encoding is the password, which only ever goes inside age ciphertext
// (the manifest).
type Password string

func (Password) String() string   { return "**redacted**" }
func (Password) GoString() string { return "**redacted**" }

// VolumeRecord is one volume of a sealed backup, in the manifest: a pod
// volume of Velero's file-system backup, or a PVC its CSI data mover moved
// (Method MethodDataMover: no pod nor volume name, the PVC named).
type VolumeRecord struct {
	Namespace string `json:"namespace"`
	Pod       string `json:"pod,omitempty"`
	Volume    string `json:"volume,omitempty"`
	PVC       string `json:"pvc,omitempty"`
	// Method is how Velero copied it: MethodFSBackup (also when empty, as
	// in manifests written before data mover volumes were sealed) or
	// MethodDataMover.
	Method       string `json:"method,omitempty"`
	SnapshotID   string `json:"snapshotID"`
	RootObjectID string `json:"rootObjectID"`
	Files        int64  `json:"files"`
	Bytes        int64  `json:"bytes"`
	// Repository is the Path of the RepositoryRecord holding the snapshot.
	Repository string `json:"repository"`
	// AlteredNames counts the snapshot's entries whose name kopia stored
	// with U+FFFD: not valid UTF-8 on the volume, its bytes lost in
	// Velero's repository (docs/volumes.md, "File names kopia cannot
	// keep").
	AlteredNames int64 `json:"alteredNames,omitempty"`
	// ShadowedEntries counts entries that a later entry of the same
	// (altered) name hides from kopia's reader and so from Velero's
	// restore; ShadowedFiles and ShadowedBytes are the regular files under
	// them. They are sealed, and not in Files and Bytes.
	ShadowedEntries int64 `json:"shadowedEntries,omitempty"`
	ShadowedFiles   int64 `json:"shadowedFiles,omitempty"`
	ShadowedBytes   int64 `json:"shadowedBytes,omitempty"`
}

// Methods of VolumeRecord.
const (
	// MethodFSBackup: Velero's file-system backup (a PodVolumeBackup).
	MethodFSBackup = "FSBackup"
	// MethodDataMover: Velero's CSI snapshot data mover (a DataUpload).
	MethodDataMover = "DataMover"
)

// IsDataMover reports whether v was moved by Velero's CSI data mover.
func (v VolumeRecord) IsDataMover() bool { return v.Method == MethodDataMover }

// UncoveredVolume is a volume of a backup whose data is not sealed, with
// why (docs/volumes.md, "Coverage"), in the manifest: PVC names only ever
// go offsite inside age ciphertext.
type UncoveredVolume struct {
	Namespace string `json:"namespace"`
	PVC       string `json:"pvc,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Volume    string `json:"volume,omitempty"`
	Reason    string `json:"reason"`
	Message   string `json:"message,omitempty"`
}

// RepositoryRecord is a sealed kopia repository as one backup needs it, in
// the manifest: the blobs that restore the backup's snapshots, and the
// repository password.
type RepositoryRecord struct {
	// Path is VolumeRepoPath of the repository.
	Path      string `json:"path"`
	BSL       string `json:"bsl"`
	Namespace string `json:"namespace"`
	UniqueID  string `json:"uniqueID"`
	// Recipients is the RecipientsTag of the seal's recipients.
	Recipients string   `json:"recipients"`
	Password   Password `json:"password"`
	// Blobs, sorted by ID.
	Blobs []VolumeBlob `json:"blobs"`
}

// VolumeBlob is one sealed kopia blob: its kopia ID, its offsite key, and
// the sizes and SHA-256 of its plaintext (the bytes in Velero's repository,
// which kopia has itself encrypted) and of its age ciphertext.
type VolumeBlob struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	CipherSize   int64  `json:"cipherSize"`
	CipherSHA256 string `json:"cipherSHA256"`
	// Reused says an earlier seal sealed the blob and this one adopted it,
	// extending its object lock to this seal's retention.
	Reused bool `json:"reused,omitempty"`
}

// VolumePlanner finds the volume data of a Velero backup: which kopia
// snapshots it made and which repository blobs restore them (package
// volume implements it with kopia).
type VolumePlanner interface {
	PlanVolumes(ctx context.Context, backup string) (*VolumePlan, error)
}

// VolumePlan is what a VolumePlanner found: the backup's volumes (Files,
// Bytes and RootObjectID filled in; Repository set to "<bsl>/<namespace>/<uniqueID>"
// of one of Repositories) and, per repository, the blobs to seal.
type VolumePlan struct {
	Volumes      []VolumeRecord
	Repositories []PlannedRepository
	// NotCovered are the backup's volumes whose data is not sealed, for
	// the manifest.
	NotCovered []UncoveredVolume
}

// PlannedRepository is a repository to seal: where its blobs are in the
// Sealer's Source, and which.
type PlannedRepository struct {
	BSL, Namespace, UniqueID string
	Password                 Password
	// Prefix is the repository's folder in Source ("kopia/<namespace>/").
	Prefix string
	Blobs  []PlannedBlob
}

// PlannedBlob is a kopia blob and its size as listed.
type PlannedBlob struct {
	ID   string
	Size int64
}

func (p PlannedRepository) validate() error {
	if err := ValidateName("storage location", p.BSL); err != nil {
		return err
	}
	if err := ValidateName("namespace", p.Namespace); err != nil {
		return err
	}
	if !isLowerHex(p.UniqueID) || len(p.UniqueID) == 0 || len(p.UniqueID) > 128 {
		return fmt.Errorf("repository %s/%s: bad unique ID %q", p.BSL, p.Namespace, p.UniqueID)
	}
	for _, b := range p.Blobs {
		if !kopiaBlobID.MatchString(b.ID) || strings.HasPrefix(b.ID, ".") {
			return fmt.Errorf("repository %s/%s: bad blob ID %q", p.BSL, p.Namespace, b.ID)
		}
	}
	return nil
}

// validateVolumeObjects checks the seal's volume blobs: sorted unique keys
// under VolumesDir, each with a ciphertext size and digest.
func validateVolumeObjects(objs []Object) error {
	for i, o := range objs {
		if !strings.HasPrefix(o.Name, VolumesDir) {
			return fmt.Errorf("volumeBlobs: %q is not under %s", o.Name, VolumesDir)
		}
		if err := ValidateObjectName(o.Name); err != nil {
			return fmt.Errorf("volumeBlobs: %w", err)
		}
		if i > 0 && objs[i-1].Name >= o.Name {
			return fmt.Errorf("volumeBlobs: not sorted and unique at %q", o.Name)
		}
		if err := (Blob{Size: o.Size, SHA256: o.SHA256}).validate(o.Name); err != nil {
			return fmt.Errorf("volumeBlobs: %w", err)
		}
	}
	return nil
}

// validateVolumes checks the manifest's volume records against its
// repositories.
func (m *Manifest) validateVolumes() error {
	repos := make(map[string]bool, len(m.Repositories))
	for _, r := range m.Repositories {
		if r.Path != VolumeRepoPath(r.BSL, r.Namespace, r.UniqueID, r.Recipients) {
			return fmt.Errorf("repositories: path %q does not match %s/%s/%s", r.Path, r.BSL, r.Namespace, r.UniqueID)
		}
		for i, b := range r.Blobs {
			if b.Key != VolumeBlobKey(r.Path, b.ID, b.SHA256) {
				return fmt.Errorf("repositories: %s: blob %q has key %q", r.Path, b.ID, b.Key)
			}
			if i > 0 && r.Blobs[i-1].ID >= b.ID {
				return fmt.Errorf("repositories: %s: blobs not sorted and unique at %q", r.Path, b.ID)
			}
		}
		repos[r.Path] = true
	}
	for _, v := range m.Volumes {
		if err := v.validate(); err != nil {
			return err
		}
		if !repos[v.Repository] {
			return fmt.Errorf("volumes: %s/%s/%s: repository %q is not in the manifest", v.Namespace, v.Pod, v.Volume, v.Repository)
		}
	}
	for _, u := range m.NotCovered {
		if u.Namespace == "" || u.Reason == "" {
			return errors.New("notCovered: namespace and reason are required")
		}
	}
	return nil
}

func (v VolumeRecord) validate() error {
	if v.Namespace == "" || v.SnapshotID == "" || v.RootObjectID == "" {
		return errors.New("volumes: namespace, snapshot and root object ID are required")
	}
	switch v.Method {
	case "", MethodFSBackup:
		if v.Pod == "" || v.Volume == "" {
			return fmt.Errorf("volumes: %s: pod and volume are required", v.Namespace)
		}
	case MethodDataMover:
		if v.PVC == "" || v.Pod != "" || v.Volume != "" {
			return fmt.Errorf("volumes: %s: a data mover volume names its PVC, and no pod or volume", v.Namespace)
		}
	default:
		return fmt.Errorf("volumes: %s: unknown method %q", v.Namespace, v.Method)
	}
	return nil
}

// matchesVolumes checks that the manifest's volume blobs are exactly the
// seal's, with the same ciphertext digests.
func (m *Manifest) matchesVolumes(s *Seal) error {
	sealed := make(map[string]Object, len(s.VolumeBlobs))
	for _, o := range s.VolumeBlobs {
		sealed[o.Name] = o
	}
	n := 0
	for _, r := range m.Repositories {
		for _, b := range r.Blobs {
			o, ok := sealed[b.Key]
			if !ok || o.Size != b.CipherSize || o.SHA256 != b.CipherSHA256 {
				return fmt.Errorf("%w: volume blob %s is not in the seal as recorded", ErrBadManifest, b.Key)
			}
			n++
		}
	}
	if n != len(s.VolumeBlobs) {
		return fmt.Errorf("%w: %d volume blobs, the seal has %d", ErrBadManifest, n, len(s.VolumeBlobs))
	}
	return nil
}
