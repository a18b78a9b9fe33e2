package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/target"
	"github.com/safekeep-dev/safekeep/volume"
)

// SigningKeyEnv names the variable holding the path of the signing key when
// --signing-key is not given.
const SigningKeyEnv = "SAFEKEEP_SIGNING_KEY"

type sealFlags struct {
	target      targetFlags
	source      string
	backup      string
	schedule    string
	signingKey  string
	clusterID   string
	concurrency int
	// repoPassword is the file holding Velero's kopia repository password.
	repoPassword string
}

func newSeal(opts *options) *cobra.Command {
	f := &sealFlags{}
	cmd := &cobra.Command{
		Use:   "seal --source BSL.yaml --backup NAME --target-file TARGET.yaml",
		Short: "Copy one Velero backup offsite, encrypted and signed",
		Long: `seal reads the Velero backup NAME from the bucket of the BackupStorageLocation in
BSL.yaml, encrypts every object to the target's age recipients, writes them to
the target's bucket under <prefix>/safekeep/v1/backups/SCHEDULE/NAME/ (with
object lock when the target asks for it), then the encrypted manifest and,
last, seal.json, signed with the signing key.

Sealing again is safe: an already sealed backup is left as it is, and a seal
that was interrupted (Ctrl-C, a crash) is completed without uploading again
what is already there. The Velero bucket is only read.`,
		Example: `  export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
  safekeep seal --source bsl.yaml --backup nightly-20250101 --target-file target.yaml \
      --schedule nightly --signing-key signing.pem
  safekeep seal --source bsl.yaml --backup nightly-20250101 --target offsite -n safekeep-system`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSeal(cmd, opts, f) },
	}
	f.target.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.source, "source", "", "Velero BackupStorageLocation (YAML) holding the backup (required)")
	fl.StringVar(&f.backup, "backup", "", "name of the Velero backup to seal (required)")
	fl.StringVar(&f.schedule, "schedule", "manual", "schedule `NAME` to file the sealed backup under")
	fl.StringVar(&f.signingKey, "signing-key", "", "ed25519 signing key `FILE` (PKCS#8 PEM; default $"+SigningKeyEnv+", or with --target the target's signing key Secret)")
	fl.StringVar(&f.clusterID, "cluster-id", "", "name of the source cluster to record in the seal")
	fl.IntVar(&f.concurrency, "concurrency", seal.DefaultConcurrency, "objects copied at once")
	fl.StringVar(&f.repoPassword, "repository-password-file", "", "`FILE` holding Velero's kopia repository password, needed when the backup has volume data "+
		"(default with --target: the Secret "+volume.PasswordSecret+" in the velero namespace)")
	return cmd
}

func (f *sealFlags) validate() error {
	if f.source == "" {
		return usagef("--source is required (a Velero BackupStorageLocation file)")
	}
	if f.backup == "" {
		return usagef("--backup is required (the Velero backup's name)")
	}
	if err := f.target.check(); err != nil {
		return err
	}
	if err := checkName("--backup", "backup", f.backup); err != nil {
		return err
	}
	if err := checkName("--schedule", "schedule", f.schedule); err != nil {
		return err
	}
	if f.signingKey == "" {
		f.signingKey = os.Getenv(SigningKeyEnv)
	}
	if f.signingKey == "" && f.target.name == "" { // with --target, the target's signing key Secret
		return usagef("--signing-key is required (or set %s to the key file's path)", SigningKeyEnv)
	}
	if f.concurrency < 1 {
		return usagef("--concurrency must be at least 1, got %d", f.concurrency)
	}
	return nil
}

func runSeal(cmd *cobra.Command, opts *options, f *sealFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	what := "seal " + f.schedule + "/" + f.backup
	s, off, err := f.sealer(ctx)
	if err != nil {
		return prefixed(what, err)
	}
	progress := newProgress(opts.streams.Err, "sealing "+f.schedule+"/"+f.backup)
	var (
		plain  int64
		copied bool // progress is reported only when a seal is made now
	)
	s.Progress = func(p seal.Progress) {
		plain, copied = p.BytesTotal, true
		progress.Set(p.BytesDone, p.BytesTotal)
	}
	start := time.Now()
	sl, err := s.Seal(ctx, f.schedule, f.backup)
	progress.Clear()
	if err != nil && ctx.Err() != nil {
		cause := strings.TrimPrefix(err.Error(), what+": ")
		return &wrapped{err: err, msg: what + ": interrupted; the offsite copy stays incomplete (never restorable) until the same seal runs again: " + cause}
	}
	if err != nil {
		return prefixed(what, err)
	}
	return printSealSummary(opts.streams, off, sl, copied, plain, start)
}

// sealer builds the Sealer from the files named by the flags.
func (f *sealFlags) sealer(ctx context.Context) (*seal.Sealer, *offsite, error) {
	var signer crypto.SigningKey
	if f.signingKey != "" {
		key, err := os.ReadFile(f.signingKey)
		if err != nil {
			return nil, nil, err
		}
		if signer, err = crypto.ParseSigningKey(key); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.signingKey, err)
		}
	}
	bsl, err := location.LoadBSL(f.source)
	if err != nil {
		return nil, nil, err
	}
	off, err := f.target.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if f.signingKey == "" { // cluster mode: the target's signing key Secret
		if signer, err = target.SigningKey(ctx, off.cluster, off.target); err != nil {
			return nil, nil, fmt.Errorf("OffsiteTarget %s/%s: %w", off.target.Namespace, off.target.Name, err)
		}
	}
	rcpts, err := crypto.ParseRecipients(off.target.Spec.Recipients)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: spec.recipients: %w", f.target.file, err)
	}
	srcCfg, err := location.BSLConfigFromEnv(ctx, bsl)
	if err != nil {
		return nil, nil, fmt.Errorf("source credentials: %w", err)
	}
	src, err := openStore(ctx, srcCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("source store: %w", err)
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("source location", "file", f.source, "store", src.String())
	s := &seal.Sealer{
		Source:      src,
		Offsite:     off.store,
		Recipients:  rcpts,
		Signer:      signer,
		Concurrency: f.concurrency,
		ClusterID:   f.clusterID,
	}
	if ol := off.target.Spec.ObjectLock; ol != nil {
		s.Lock = &seal.Lock{Mode: target.LockMode(ol.Mode), RetainDays: int(ol.RetainDays)}
	}
	s.Volumes = &volume.Planner{Source: src, BSL: bsl.Name, Password: f.repositoryPassword(off)}
	return s, off, nil
}

// repositoryPassword is where the kopia repository password comes from:
// the file named by --repository-password-file, else, with --target, Velero's
// Secret. It is read only when the backup has volume data.
func (f *sealFlags) repositoryPassword(off *offsite) func(context.Context) (string, error) {
	switch {
	case f.repoPassword != "":
		return func(context.Context) (string, error) {
			data, err := os.ReadFile(f.repoPassword)
			if err != nil {
				return "", err
			}
			return strings.TrimRight(string(data), "\r\n"), nil
		}
	case off.cluster != nil:
		return volume.PasswordFromSecret(off.cluster, "velero")
	}
	return func(context.Context) (string, error) {
		return "", usagef("the backup has volume data: --repository-password-file is required (Velero's kopia repository password)")
	}
}

func printSealSummary(s Streams, off *offsite, sl *seal.Seal, copied bool, plain int64, start time.Time) error {
	elapsed := time.Since(start).Round(time.Millisecond)
	w := newTable(s.Out)
	status := "sealed"
	if !copied {
		status = "already sealed at " + sl.SealedAt.Format(time.RFC3339) + "; nothing uploaded"
	}
	p := &printer{w: w}
	p.printf("backup:\t%s/%s (%s)\n", sl.Schedule, sl.Backup, status)
	p.printf("objects:\t%d\n", len(sl.Objects))
	if plain > 0 {
		p.printf("plaintext:\t%s (%s bytes)\n", bytesIEC(plain), strconv.FormatInt(plain, 10))
	}
	p.printf("ciphertext:\t%s (%d bytes)\n", bytesIEC(sl.CiphertextBytes()), sl.CiphertextBytes())
	p.printf("recipients:\t%d\n", len(sl.Recipients))
	if sl.Lock != nil {
		p.printf("object lock:\t%s until %s\n", sl.Lock.Mode, sl.Lock.RetainUntil.Format(time.RFC3339))
	}
	p.printf("duration:\t%s\n", elapsed)
	p.printf("seal:\t%s/%s\n", off.where(), seal.SealKey(sl.Schedule, sl.Backup))
	p.printf("digest:\t%s\n", sl.Digest())
	return p.flushTable(w)
}
