package cli

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/plural"
	"github.com/safekeep-dev/safekeep/restore"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/volume"
)

// restoreFlags are the flags of 'safekeep restore'.
type restoreFlags struct {
	checkFlags
	dir        string
	overwrite  bool
	volume     string
	mappings   []string
	staging    string
	veleroNS   string
	timeout    time.Duration
	signingKey string
	// isolated restores as a drill does (drill.Isolation); run and
	// allowDNS widen it.
	isolated bool
	run      []string
	allowDNS bool
	// readerImage is the image of the Job that reads the restored volumes
	// (drill/volumereader), as a Level 2 drill's.
	readerImage string
}

func newRestore(opts *options) *cobra.Command {
	f := &restoreFlags{}
	cmd := &cobra.Command{
		Use:   "restore --target-file TARGET.yaml|--target NAME --backup SCHEDULE/NAME --identity FILE (--namespace-mapping SRC:DST... | --to-dir DIR)",
		Short: "Restore a sealed backup through Velero, checked, or decrypt it into a directory",
		Long: `restore verifies the seal and decrypts every object of the backup with the age
identity, checking every ciphertext and plaintext digest. Then either:

With --namespace-mapping SRC:DST (one per namespace of the backup; SRC:SRC
restores in place), it stages the backup under a new name in a Velero
BackupStorageLocation of the current kubeconfig's cluster (--staging-location,
required: a location of its own, never Velero's primary one, which Safekeep
does not write to), creates a Velero Restore into the mapped
namespaces (existing objects are left alone), waits for it, and checks what
came back: the Restore Completed without errors, every namespaced item of the
backup is present, every ConfigMap and Secret equals the backup's. It prints
each check; exit status 0 only when every check passed. The staged copy is
removed afterwards; the Restore stays as the record. Credentials of the
staging location come from its Secret in the Velero namespace when readable,
else from the AWS environment.

With --to-dir DIR (no cluster needed), it writes the Velero files under DIR
with their Velero names (velero-backup.json, NAME.tar.gz, ...), byte-identical
to what Velero wrote, and every resource of the backup as a YAML file ready for
'kubectl apply' under DIR/resources/namespaces/<namespace>/<resource>/ and
DIR/resources/cluster/<resource>/ (status and cluster-specific fields removed,
as Velero's restore does). Files appear only when every digest checked out;
existing files are not replaced unless --overwrite. DIR holds plaintext,
Secrets included: keep it on an encrypted disk.

With --isolated, it restores as a drill does, for a look at a backup on a live
cluster: into new namespaces (none may exist) that Safekeep creates first with
a default-deny NetworkPolicy, a ResourceQuota, a LimitRange and PodSecurity
"restricted"; workloads come back at 0 replicas or suspended, Services as
ClusterIP, and no Ingress, route, autoscaler, DaemonSet, Pod or webhook is
restored (docs/drill.md, "What a drill changes in your cluster"). --run KIND
lets a kind run (under the deny-all policy); --allow-dns opens port 53.

Volumes of the backup are restored by Velero's node-agent (unless --isolated
keeps pods from running). With --volume-reader-image (safekeep-controller's
image), a Job in each destination namespace mounts the restored claims
read-only and every file is compared with the sealed snapshot, as a Level 2
drill does; the check and the audit entry then carry each volume's restored
and matched files and bytes (counts only).

Each restore is recorded in the audit log in the bucket when a restore key is
given (--signing-key, or $SAFEKEEP_SIGNING_KEY; with --target, else the key in
the target's spec.auditKeySecretRef Secret) whose public half the target lists
in spec.auditKeys (or one of its signing keys). The target's seal signing key
is never read: a restore key can append to the audit log, not sign seals.`,
		Example: `  safekeep restore --target-file target.yaml --backup nightly/nightly-20250101 \
      --identity break-glass.key --namespace-mapping phi-app:phi-app-restored
  safekeep restore --target-file target.yaml --backup nightly/nightly-20250101 \
      --identity break-glass.key --to-dir ./nightly-20250101`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mapping, err := f.check()
			if err != nil {
				return err
			}
			if f.dir != "" {
				return runRestoreToDir(cmd, opts, f)
			}
			return runRestoreCluster(cmd, opts, f, mapping)
		},
	}
	f.add(cmd, "age identity `FILE` that decrypts the backup (required; repeatable)")
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "to-dir", "", "`DIR` to write the decrypted Velero files and resources/ into (no cluster; created 0700)")
	fl.BoolVar(&f.overwrite, "overwrite", false, "with --to-dir: replace files that already exist in DIR")
	fl.StringVar(&f.volume, "volume", "", "with --to-dir: write only this volume's files (`NAMESPACE/POD/VOLUME`, or NAMESPACE/_pvc/PVC for a volume Velero's data mover moved); by default every sealed volume's, under DIR/volumes/")
	fl.StringArrayVar(&f.mappings, "namespace-mapping", nil, "restore namespace `SRC:DST` of the backup into DST through Velero (repeatable; one per namespace of the backup)")
	fl.StringVar(&f.staging, "staging-location", "", "Velero BackupStorageLocation `NAME` to stage the backup in; required with --namespace-mapping (a staging location, not Velero's primary one)")
	fl.StringVar(&f.veleroNS, "velero-namespace", drill.DefaultVeleroNamespace, "`NAMESPACE` Velero runs in")
	fl.DurationVar(&f.timeout, "restore-timeout", drill.DefaultRestoreTimeout, "how long to wait for the Velero Restore")
	fl.BoolVar(&f.isolated, "isolated", false, "with --namespace-mapping: restore into new, isolated namespaces with nothing able to run, be reached or act (as a drill does)")
	fl.StringArrayVar(&f.run, "run", nil, "with --isolated: let `KIND` run under the deny-all policy (repeatable: "+strings.Join(drill.RunnableKinds, ", ")+")")
	fl.BoolVar(&f.allowDNS, "allow-dns", false, "with --isolated: let pods reach the cluster DNS (port 53)")
	fl.StringVar(&f.readerImage, "volume-reader-image", "", "with --namespace-mapping: `IMAGE` of safekeep-controller, run as a Job in each destination namespace to read the restored volumes and compare every file with the sealed snapshot (as a Level 2 drill does); without it, volumes are restored by Velero but their files not compared")
	fl.StringVar(&f.signingKey, "signing-key", "", "restore key `FILE` (ed25519, 'safekeep keygen --signing') that signs the audit entry; its public half must be in the target's spec.auditKeys (default $"+SigningKeyEnv+")")
	return cmd
}

// check validates the command line and returns the namespace mapping.
func (f *restoreFlags) check() (map[string]string, error) {
	if err := f.target.check(); err != nil {
		return nil, err
	}
	if _, _, err := parseBackupRef("backup", f.backup); err != nil {
		return nil, err
	}
	if len(f.identities) == 0 {
		return nil, usagef("--identity is required (the age identity file that decrypts the backup)")
	}
	switch {
	case f.dir != "" && len(f.mappings) > 0:
		return nil, usagef("--to-dir and --namespace-mapping are exclusive: write files, or restore into the cluster")
	case f.dir != "" && f.staging != "":
		return nil, usagef("--staging-location needs --namespace-mapping: --to-dir uses no cluster")
	case f.dir == "" && len(f.mappings) == 0:
		return nil, usagef("--to-dir is required (the directory to write the backup's files into), or --namespace-mapping SRC:DST to restore through Velero into the cluster")
	case f.dir == "" && f.staging == "":
		return nil, usagef("--staging-location is required with --namespace-mapping: the Velero BackupStorageLocation to stage the backup in (a staging one; Safekeep never writes to Velero's primary location)")
	case f.dir == "" && f.overwrite:
		return nil, usagef("--overwrite needs --to-dir")
	case f.timeout <= 0:
		return nil, usagef("--restore-timeout must be positive, got %s", f.timeout)
	}
	if f.volume != "" && f.dir == "" {
		return nil, usagef("--volume needs --to-dir")
	}
	if err := f.checkIsolation(); err != nil {
		return nil, err
	}
	return parseMappings(f.mappings)
}

// checkIsolation validates --isolated, --run and --allow-dns, and
// --volume-reader-image, which needs the pods to run.
func (f *restoreFlags) checkIsolation() error {
	switch {
	case f.isolated && f.dir != "":
		return usagef("--isolated needs --namespace-mapping: --to-dir restores nothing into a cluster")
	case !f.isolated && (len(f.run) > 0 || f.allowDNS):
		return usagef("--run and --allow-dns need --isolated")
	case f.readerImage != "" && (f.dir != "" || f.isolated && len(f.run) == 0):
		return usagef("--volume-reader-image needs --namespace-mapping, and pods allowed to run (not --isolated alone): it reads the volumes Velero restores")
	}
	for _, k := range f.run {
		if !slices.Contains(drill.RunnableKinds, k) {
			return usagef("--run %q: want one of %s", k, strings.Join(drill.RunnableKinds, ", "))
		}
	}
	return nil
}

// parseMappings parses --namespace-mapping SRC:DST values.
func parseMappings(values []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		src, dst, ok := strings.Cut(v, ":")
		if !ok || src == "" || dst == "" {
			return nil, usagef("--namespace-mapping %q: want SRC:DST, for example phi-app:phi-app-restored", v)
		}
		for _, ns := range []string{src, dst} {
			if len(validation.IsDNS1123Label(ns)) > 0 {
				return nil, usagef("--namespace-mapping %q: %q is not a valid namespace name (lower-case letters, digits and '-', at most 63)", v, ns)
			}
		}
		if _, dup := out[src]; dup {
			return nil, usagef("--namespace-mapping: namespace %s is mapped twice", src)
		}
		out[src] = dst
	}
	return out, nil
}

// runRestoreToDir decrypts the backup into a directory, resources/ included.
func runRestoreToDir(cmd *cobra.Command, opts *options, f *restoreFlags) error {
	schedule, backup, _ := parseBackupRef("backup", f.backup)
	what := "restore " + schedule + "/" + backup
	vo, off, kt, err := f.open(cmd.Context())
	if err != nil {
		return prefixed(what, err)
	}
	progress := newProgress(opts.streams.Err, "restoring "+schedule+"/"+backup)
	res, err := restore.ToDir(cmd.Context(), off.store, schedule, backup, vo.Identities, f.dir, restore.Options{
		Overwrite:   f.overwrite,
		TrustedKeys: kt.keys, TrustBucketKey: kt.bucket, Binding: off.binding(),
		Progress:  func(p seal.Progress) { progress.Set(p.BytesDone, p.BytesTotal) },
		Resources: true,
		Volume:    f.volume,
	})
	progress.Clear()
	if err != nil {
		return prefixed(what, err)
	}
	out := &printer{w: opts.streams.Out}
	out.printf("restored %s/%s to %s: %s, %s, every digest checked\n", schedule, backup, f.dir, plural.S(len(res.Files), "file"), bytesIEC(res.Bytes))
	out.printf("  seal signed by %s\n", kt.explain(res.Seal.Signature.KeyID))
	printHidden(out, res.Hidden)
	for _, name := range res.Files {
		out.printf("  %s\n", name)
	}
	out.printf("  %s/: %s as YAML, ready for 'kubectl apply -R -f'\n", restore.ResourcesDir, plural.S(res.Resources, "resource"))
	for _, v := range res.Volumes {
		out.printf("  %s/: volume %s (PVC %q): %s, %s, every blob checked\n", v.Dir, volume.Name(v.Volume), v.Volume.PVC, plural.S(int(v.Files), "file"), bytesIEC(v.Bytes))
		for _, l := range v.Skipped {
			out.printf("    symlink %q not created: its target leaves the volume\n", l)
		}
		if v.AlteredNames > 0 {
			out.printf("    %s kopia stored with U+FFFD for bytes that were not UTF-8: written as stored, the original bytes are not in Velero's repository\n",
				plural.S(int(v.AlteredNames), "name"))
		}
		for _, l := range v.Shadowed {
			out.printf("    %q: an entry Velero's restore drops (a same-named one hides it), written under this name\n", l)
		}
	}
	if out.err != nil {
		return out.err
	}
	recordRestore(cmd.Context(), opts, f, off, restoreRecord{schedule: schedule, backup: backup, destination: "dir:" + absPath(f.dir), passed: true})
	return nil
}
