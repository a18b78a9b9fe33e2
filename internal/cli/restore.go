package cli

import (
	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
)

func newRestore(opts *options) *cobra.Command {
	var (
		f         checkFlags
		dir       string
		overwrite bool
	)
	cmd := &cobra.Command{
		Use:   "restore --target-file TARGET.yaml --backup SCHEDULE/NAME --identity FILE --to-dir DIR",
		Short: "Decrypt a sealed backup into a directory, as Velero wrote it",
		Long: `restore verifies the seal, then decrypts every object of the backup with the
age identity and writes it under DIR with its Velero name (velero-backup.json,
NAME.tar.gz, ...), byte-identical to what Velero wrote. Every ciphertext and
plaintext digest is checked while writing; files appear only when all of them
checked out. Existing files are not replaced unless --overwrite.

No cluster is needed: the bucket, its credentials and an offline identity are
enough. The directory holds plaintext: keep it on an encrypted disk.`,
		Example: `  safekeep restore --target-file target.yaml --backup nightly/nightly-20250101 \
      --identity break-glass.key --to-dir ./nightly-20250101`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.target.check(); err != nil {
				return err
			}
			schedule, backup, err := parseBackupRef("backup", f.backup)
			if err != nil {
				return err
			}
			if len(f.identities) == 0 {
				return usagef("--identity is required (the age identity file that decrypts the backup)")
			}
			if dir == "" {
				return usagef("--to-dir is required (the directory to write the backup's files into)")
			}
			what := "restore " + schedule + "/" + backup
			vo, err := f.verifyOptions()
			if err != nil {
				return prefixed(what, err)
			}
			off, err := f.target.open(cmd.Context())
			if err != nil {
				return prefixed(what, err)
			}
			progress := newProgress(opts.streams.Err, "restoring "+schedule+"/"+backup)
			res, err := restore.ToDir(cmd.Context(), off.store, schedule, backup, vo.Identities, dir, restore.Options{
				Overwrite: overwrite,
				VerifyKey: vo.VerifyKey,
				Progress:  func(p seal.Progress) { progress.Set(p.BytesDone, p.BytesTotal) },
			})
			progress.Clear()
			if err != nil {
				return prefixed(what, err)
			}
			out := &printer{w: opts.streams.Out}
			out.printf("restored %s/%s to %s: %d files, %s, every digest checked\n", schedule, backup, dir, len(res.Files), bytesIEC(res.Bytes))
			for _, name := range res.Files {
				out.printf("  %s\n", name)
			}
			return out.err
		},
	}
	f.add(cmd, "age identity `FILE` that decrypts the backup (required; repeatable)")
	cmd.Flags().StringVar(&dir, "to-dir", "", "`DIR` to write the decrypted Velero files into (required; created 0700)")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace files that already exist in DIR")
	return cmd
}
