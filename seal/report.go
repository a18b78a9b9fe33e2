package seal

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
)

// ProblemKind classifies what verification found wrong.
type ProblemKind string

const (
	// ProblemMissing: a sealed object (or the manifest) is not in the bucket.
	ProblemMissing ProblemKind = "missing"
	// ProblemSize: the ciphertext size differs from the seal's.
	ProblemSize ProblemKind = "size"
	// ProblemDigest: the ciphertext SHA-256 differs from the seal's.
	ProblemDigest ProblemKind = "digest"
	// ProblemDamaged: the object's stored bytes fail the checksum the
	// server stored with them, on every read: it is damaged at rest.
	ProblemDamaged ProblemKind = "damaged"
	// ProblemUnreadable: the object could not be read however often it was
	// tried (ErrUnreadable); nothing is known about its contents.
	ProblemUnreadable ProblemKind = "unreadable"
	// ProblemDecrypt: the object does not decrypt (wrong identity, corrupt).
	ProblemDecrypt ProblemKind = "decrypt"
	// ProblemPlaintext: the plaintext size or SHA-256 differs from the manifest's.
	ProblemPlaintext ProblemKind = "plaintext"
	// ProblemManifest: the manifest is malformed or disagrees with the seal.
	ProblemManifest ProblemKind = "manifest"
)

// ManifestObject is the Object name problems with manifest.json.age carry.
const ManifestObject = manifestName

// Problem is one thing verification found wrong with one object.
type Problem struct {
	Kind ProblemKind
	// Object is the Velero object name, or ManifestObject.
	Object string
	// Err says what is wrong; it wraps the sentinel of the kind
	// (ErrObjectMissing, ErrObjectMismatch, crypto.ErrWrongIdentity, ...).
	Err error
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %v", p.Object, p.Kind, p.Err) }

// Report is the outcome of verifying one sealed backup.
type Report struct {
	Schedule, Backup string
	// Seal is the parsed seal; nil when there is none or it is unreadable.
	Seal *Seal
	// KeyID names the key the signature verified with.
	KeyID string
	// Objects and CiphertextBytes count the sealed objects.
	Objects         int
	CiphertextBytes int64
	// Decrypted is set when objects were decrypted and their plaintext
	// checked; PlaintextBytes counts it.
	Decrypted      bool
	PlaintextBytes int64
	// VolumeBlobs counts the sealed volume blobs whose ciphertext checked
	// out (docs/volumes.md).
	VolumeBlobs int
	// Hidden lists seal.json, the manifest and the objects a delete
	// marker hid, and the version each was recovered from (or that none
	// matched: the object is then also a missing Problem).
	Hidden []Hidden
	// Problems are sorted by object name, then kind.
	Problems []Problem
	// Extra are the keys under objects/ that the seal does not list: not
	// part of the backup (anyone who can write to the bucket can add one),
	// never read; named here, not problems.
	Extra []string
}

// Unreadable reports whether every problem is an object that could not be
// read (ProblemUnreadable): no finding about the backup, only that the check
// could not finish. False when there is no problem.
func (r *Report) Unreadable() bool {
	for _, p := range r.Problems {
		if p.Kind != ProblemUnreadable {
			return false
		}
	}
	return len(r.Problems) > 0
}

// OK reports whether verification found nothing wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(kind ProblemKind, object string, err error) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Object: object, Err: err})
}

func (r *Report) sort() {
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		if c := strings.Compare(a.Object, b.Object); c != 0 {
			return c
		}
		return strings.Compare(string(a.Kind), string(b.Kind))
	})
}

// VerifyError is the error of a verification that found problems. It
// unwraps to every problem's error, so errors.Is(err, ErrObjectMissing),
// errors.Is(err, crypto.ErrWrongIdentity) and so on work.
type VerifyError struct {
	Schedule, Backup string
	Problems         []Problem
}

func (e *VerifyError) Error() string {
	first := e.Problems[0]
	if len(e.Problems) == 1 {
		return fmt.Sprintf("backup %s/%s: %s", e.Schedule, e.Backup, first)
	}
	return fmt.Sprintf("backup %s/%s: %d problems, first: %s", e.Schedule, e.Backup, len(e.Problems), first)
}

func (e *VerifyError) Unwrap() []error {
	out := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		out[i] = p.Err
	}
	return out
}

func (r *Report) err() error {
	if r.OK() {
		return nil
	}
	r.sort()
	return &VerifyError{Schedule: r.Schedule, Backup: r.Backup, Problems: r.Problems}
}

// decryptProblem wraps a decryption failure for a report.
func decryptProblem(err error) error {
	if errors.Is(err, crypto.ErrWrongIdentity) {
		return fmt.Errorf("no given identity can decrypt it: %w", err)
	}
	return err
}
