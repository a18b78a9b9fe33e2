package drill

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/volume"
)

// errPasswordSecret: Velero's repository password Secret is missing or
// has no password.
var errPasswordSecret = errors.New("no repository password")

// checkRepositoryPasswords compares Velero's repository password with
// the password of each sealed repository that vols are in, before
// anything is staged: Velero opens the staged copy with its own password,
// so a repository sealed under another one cannot restore, and Velero
// would fail late with an error of its own. A mismatch fails
// CheckVolumeFiles, naming the volumes, and returns false. The passwords
// are compared in constant time and never put in a message.
func (r *runner) checkRepositoryPasswords(ctx context.Context, m *seal.Manifest, vols []seal.VolumeRecord) (bool, error) {
	got, err := volume.PasswordFromSecret(r.opts.Client, r.opts.VeleroNamespace)(ctx)
	switch {
	case apierrors.IsNotFound(err):
		err = fmt.Errorf("%w: %w", errPasswordSecret, err)
	case err != nil && !apierrors.IsForbidden(err) && apierrors.ReasonForError(err) != "":
		return false, fmt.Errorf("read Velero's repository password: %w", err)
	}
	var wrong []seal.VolumeRecord
	for _, rec := range m.Repositories {
		if err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(rec.Password)) == 1 {
			continue
		}
		for _, v := range vols {
			if v.Repository == rec.Path {
				wrong = append(wrong, v)
			}
		}
	}
	if len(wrong) == 0 {
		return true, nil
	}
	secret := r.opts.VeleroNamespace + "/" + volume.PasswordSecret
	why := "Velero's repository password (Secret " + secret + ") is not the password the sealed repository was written with"
	if err != nil {
		why = "Velero's repository password could not be read: " + oneLine(err)
	}
	r.notRestored(wrong, VolumePasswordMismatch, why)
	r.fail(CheckVolumeFiles, fmt.Sprintf("%s: %s not restored; %s", VolumePasswordMismatch, plural.S(len(wrong), "volume"), why), volumeObjects(wrong))
	r.notRun("volume data could not be restored", CheckRestore, CheckPresence, CheckContent, CheckRTO, CheckJob)
	return false, nil
}

// notRestored records vols as not restored by Velero, for reason.
func (r *runner) notRestored(vols []seal.VolumeRecord, reason, why string) {
	for _, v := range vols {
		r.restored = append(r.restored, RestoredVolume{Volume: v, Reason: reason, Message: cutMessage(why, 1024)})
	}
}

// volumeObjects names vols for a check's Objects.
func volumeObjects(vols []seal.VolumeRecord) []string {
	var out []string
	for _, v := range vols {
		out = append(out, "volume "+volume.Name(v))
	}
	return firstObjects(out)
}
