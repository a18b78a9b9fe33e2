package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/seal"
)

// maxProblemsShown bounds how many problems verify prints.
const maxProblemsShown = 10

type checkFlags struct {
	target     targetFlags
	pin        pinFlags
	backup     string
	identities []string
}

func (f *checkFlags) add(cmd *cobra.Command, identityUsage string) {
	f.target.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.backup, "backup", "", "sealed backup as SCHEDULE/NAME (required; see 'safekeep backups')")
	fl.StringArrayVarP(&f.identities, "identity", "i", nil, identityUsage)
	f.pin.add(cmd)
}

func newVerify(opts *options) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "verify --target-file TARGET.yaml --backup SCHEDULE/NAME [--identity FILE] [--verify-key FILE]",
		Short: "Check that a sealed backup is intact (and, with an identity, that it decrypts)",
		Long: `verify checks a sealed backup in the offsite bucket, printing each check:
the seal's signature; every object present, with the ciphertext size and
SHA-256 the seal records, and nothing extra; the manifest. With --identity it
also decrypts the manifest and every object and checks each plaintext's size
and SHA-256. No key is needed for the first checks: auditors can run them.

The seal must be signed by a key the target names (spec.signingPublicKey,
spec.previousSigningKeys) or --verify-key gives; a key merely published in the
bucket is trusted only on --trust-bucket-key, since anyone who can write to
the bucket could have put it there. The signature line says which key signed
and why it is trusted. Exit status 0 means intact; 1 lists the first problems.`,
		Example: `  safekeep verify --target-file target.yaml --backup nightly/nightly-20250101
  safekeep verify --target-file target.yaml --backup manual/b1 -i drill.key --verify-key signing.pub`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runVerify(cmd, opts, f) },
	}
	f.add(cmd, "age identity `FILE` to also decrypt and check every plaintext (repeatable)")
	return cmd
}

func runVerify(cmd *cobra.Command, opts *options, f *checkFlags) error {
	if err := f.target.check(); err != nil {
		return err
	}
	schedule, backup, err := parseBackupRef("backup", f.backup)
	if err != nil {
		return err
	}
	what := "verify " + schedule + "/" + backup
	vopts, off, kt, err := f.open(cmd.Context())
	if err != nil {
		return prefixed(what, err)
	}
	out := &printer{w: opts.streams.Out}
	out.printf("verifying %s/%s in %s\n", schedule, backup, off.where())
	progress := newProgress(opts.streams.Err, "verifying "+schedule+"/"+backup)
	vopts.Progress = func(p seal.Progress) { progress.Set(p.BytesDone, p.BytesTotal) }
	rep, err := seal.Verify(cmd.Context(), off.store, schedule, backup, vopts)
	progress.Clear()
	var verr *seal.VerifyError
	if err != nil && !errors.As(err, &verr) {
		if rep.Seal == nil {
			out.printf("%-10s FAIL  %s\n", "seal", sealFailure(err))
		} else {
			// The seal checked out; reading the rest of the bucket failed.
			out.printf("%-10s ok    signed by %s\n", "signature", kt.explain(rep.KeyID))
			out.printf("%-10s FAIL  stopped: the bucket could not be read (no finding about the backup)\n", "objects")
		}
		return prefixed(what, err) // the verdict matters more than a lost line
	}
	printChecks(out, rep, kt, len(vopts.Identities) > 0)
	printHidden(out, rep.Hidden)
	if err != nil {
		return prefixed(what, err)
	}
	out.printf("intact: %s/%s\n", schedule, backup)
	return out.err
}

// open loads the identities, opens the target and works out the keys its
// seals are trusted from; the options returned hold both.
func (f *checkFlags) open(ctx context.Context) (seal.VerifyOptions, *offsite, keyTrust, error) {
	vo, err := f.verifyOptions()
	if err != nil {
		return vo, nil, keyTrust{}, err
	}
	off, err := f.target.open(ctx)
	if err != nil {
		return vo, nil, keyTrust{}, err
	}
	kt, err := f.pin.trust(off)
	if err != nil {
		return vo, nil, keyTrust{}, err
	}
	kt.apply(&vo, off)
	return vo, off, kt, nil
}

func (f *checkFlags) verifyOptions() (seal.VerifyOptions, error) {
	var vo seal.VerifyOptions
	for _, p := range f.identities {
		ids, err := loadIdentities(p)
		if err != nil {
			return vo, err
		}
		vo.Identities = append(vo.Identities, ids...)
	}
	return vo, nil
}

// printChecks prints one line per check, then the first problems; a write
// error stays in w.err.
func printChecks(w *printer, rep *seal.Report, kt keyTrust, decrypt bool) {
	w.printf("%-10s ok    signed by %s\n", "signature", kt.explain(rep.KeyID))
	var volumeBlobs []seal.Object
	if rep.Seal != nil {
		volumeBlobs = rep.Seal.VolumeBlobs
	}
	isVolumeBlob := make(map[string]bool, len(volumeBlobs))
	var volumeBytes int64
	for _, o := range volumeBlobs {
		isVolumeBlob[o.Name] = true
		volumeBytes += o.Size
	}
	count := map[string]int{}
	for _, p := range rep.Problems {
		if isVolumeBlob[p.Object] {
			count["volumes"]++
			continue
		}
		count[checkOf(p)]++
	}
	line := func(check, status, format string, args ...any) {
		w.printf("%-10s %-5s %s\n", check, status, fmt.Sprintf(format, args...))
	}
	if n := count["objects"]; n > 0 {
		line("objects", "FAIL", "%d of %d objects have problems", n, rep.Objects)
	} else {
		line("objects", "ok", "%s, %s ciphertext: present, sizes and SHA-256 match the seal", plural.S(rep.Objects, "object"), bytesIEC(rep.CiphertextBytes))
	}
	if n := count["manifest"]; n > 0 {
		line("manifest", "FAIL", "%d problem(s)", n)
	} else {
		line("manifest", "ok", "present, size and SHA-256 match the seal")
	}
	switch n := count["plaintext"]; {
	case !decrypt:
		line("plaintext", "skip", "no --identity: plaintext not checked")
	case n > 0:
		line("plaintext", "FAIL", "%d problem(s)", n)
	case !rep.Decrypted:
		line("plaintext", "skip", "not checked: the manifest is unusable")
	default:
		line("plaintext", "ok", "%s decrypted: sizes and SHA-256 match the manifest", bytesIEC(rep.PlaintextBytes))
	}
	switch n := count["volumes"]; {
	case len(volumeBlobs) == 0:
	case n > 0:
		line("volumes", "FAIL", "%d of %s have problems; %d checked out", n, plural.S(len(volumeBlobs), "volume blob"), rep.VolumeBlobs)
	case decrypt && rep.Decrypted:
		line("volumes", "ok", "%s checked, %s ciphertext: present, sizes and SHA-256 match the seal; decrypted, they match the manifest",
			plural.S(rep.VolumeBlobs, "volume blob"), bytesIEC(volumeBytes))
	default:
		line("volumes", "ok", "%s checked, %s ciphertext: present, sizes and SHA-256 match the seal",
			plural.S(rep.VolumeBlobs, "volume blob"), bytesIEC(volumeBytes))
	}
	for _, key := range rep.Extra {
		w.printf("  %s: not in the seal: ignored (someone added it to the bucket)\n", oneLine(errors.New(key)))
	}
	for i, p := range rep.Problems {
		if i == maxProblemsShown {
			w.printf("  ... and %d more\n", len(rep.Problems)-i)
			break
		}
		w.printf("  %s\n", oneLine(errors.New(p.String())))
	}
}

// checkOf names the check line a problem belongs to: decryption and
// plaintext problems (of the manifest too) are "plaintext"; the manifest's
// other problems "manifest"; the rest "objects".
func checkOf(p seal.Problem) string {
	switch {
	case p.Kind == seal.ProblemDecrypt || p.Kind == seal.ProblemPlaintext:
		return "plaintext"
	case p.Kind == seal.ProblemManifest || p.Object == seal.ManifestObject:
		return "manifest"
	default:
		return "objects"
	}
}

// sealFailure says in a few words why the seal could not be checked; the
// error line on stderr has the details.
func sealFailure(err error) string {
	switch {
	case errors.Is(err, seal.ErrNotSealed):
		return "no seal.json: not sealed, or the seal is incomplete"
	case errors.Is(err, seal.ErrUntrusted):
		return "seal.json is signed by a key the target does not trust: refused"
	case errors.Is(err, seal.ErrBadSeal) && errors.Is(err, seal.ErrObjectMismatch):
		return "seal.json is damaged in the bucket: its bytes fail their stored checksum"
	case errors.Is(err, seal.ErrBadSeal):
		return "seal.json is invalid or its signature does not verify"
	case errors.Is(err, seal.ErrUnreadable):
		return "seal.json could not be read, tried again and again: the bucket failed, no finding about the seal"
	default:
		return "seal.json could not be read"
	}
}

// printHidden prints a line per object a delete marker hid: where it was
// recovered from, or that nothing under the marker matched.
func printHidden(w *printer, hidden []seal.Hidden) {
	for _, h := range hidden {
		status := "ok"
		if !h.Recovered() {
			status = "FAIL"
		}
		w.printf("%-10s %-5s %s\n", "hidden", status, h)
	}
}
