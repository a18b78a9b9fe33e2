package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
	"github.com/safekeep-dev/safekeep/target"
)

// releaseFlags are the flags of `safekeep target release`.
type releaseFlags struct {
	namespace, kubeconfig, kubeContext string
	signingKey                         string
	unrecorded                         bool
	// controllerNamespace holds the controller's leader-election Lease.
	controllerNamespace string
	ignoreLease         bool
}

// newTargetCmd is the `target` group; its one verb is `release`.
func newTargetCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Act on OffsiteTargets in a cluster",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTargetRelease(opts))
	return cmd
}

func newTargetRelease(opts *options) *cobra.Command {
	f := &releaseFlags{}
	cmd := &cobra.Command{
		Use:   "release TARGET [-n NAMESPACE]",
		Short: "Let a deleted OffsiteTarget go while the controller is down",
		Long: `release does for a deleted OffsiteTarget what the controller does when it
runs: it records the deletion in the target's audit log (a target-change entry,
change "deleted"), then removes the finalizer ` + v1alpha1.FinalizerTargetAudit + `,
so that the deletion completes. Use it when 'kubectl delete' waits on that
finalizer because the controller is not running; a running controller records
the deletion itself within seconds.

It refuses while a controller is running: while the Lease its replicas take
(--leader-elect, as deploy/ and the Helm chart run it) in --controller-namespace
is held, that is, renewed less than its duration ago. --ignore-lease releases
anyway. A controller running without --leader-elect takes no Lease and cannot
be seen.

It refuses a target that is not being deleted. The entry is signed with the
restore key (--signing-key or $` + SigningKeyEnv + `), else the key in the
target's audit key Secret (spec.auditKeySecretRef), and that key must be one
the target trusts for audit entries (spec.auditKeys); the bucket's credentials
come from the target's Secret. A target whose configuration was never recorded
needs no entry. When the entry cannot be written (its Secrets were deleted with
its namespace, or no trusted key), release refuses, unless --unrecorded says
to let the target go without it: that is said on stderr, and the log then
holds no deletion entry for the target.

The cluster is the one of --kubeconfig, else $KUBECONFIG, else ~/.kube/config.`,
		Example: `  safekeep target release offsite -n safekeep-system --signing-key restore.key
  safekeep target release offsite -n safekeep-system --unrecorded`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("want one OffsiteTarget name, got %d arguments (see '%s --help')", len(args), cmd.CommandPath())
			}
			return checkName("TARGET", "target", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTargetRelease(cmd.Context(), opts, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the OffsiteTarget (default: the kubeconfig context's)")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` (default $KUBECONFIG or ~/.kube/config)")
	fl.StringVar(&f.kubeContext, "context", "", "kubeconfig context to use")
	fl.StringVar(&f.signingKey, "signing-key", "", "restore key `FILE` (ed25519, 'safekeep keygen --signing') that signs the deletion entry; its public half must be in the target's spec.auditKeys (default $"+SigningKeyEnv+")")
	fl.BoolVar(&f.unrecorded, "unrecorded", false, "remove the finalizer even when the deletion cannot be recorded in the audit log")
	fl.StringVar(&f.controllerNamespace, "controller-namespace", v1alpha1.DefaultControllerNamespace, "`NAMESPACE` of the controller's leader-election Lease")
	fl.BoolVar(&f.ignoreLease, "ignore-lease", false, "release even while a controller holds its Lease (or when the Lease cannot be read)")
	return cmd
}

func runTargetRelease(ctx context.Context, opts *options, f *releaseFlags, name string) error {
	c, ns, err := kubeClient(f.kubeconfig, f.kubeContext, f.namespace)
	if err != nil {
		return prefixed("target release", err)
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	obj := &v1alpha1.OffsiteTarget{}
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("target release: OffsiteTarget %s not found (already gone?)", key)
		}
		return fmt.Errorf("target release: read OffsiteTarget %s: %w", key, err)
	}
	out := &printer{w: opts.streams.Out}
	switch {
	case obj.DeletionTimestamp == nil:
		return fmt.Errorf("target release: OffsiteTarget %s is not being deleted: release only lets a deleted target go ('kubectl delete offsitetarget %s -n %s' first)", key, name, ns)
	case !controllerutil.ContainsFinalizer(obj, v1alpha1.FinalizerTargetAudit):
		out.printf("OffsiteTarget %s holds no %s finalizer: nothing to release\n", key, v1alpha1.FinalizerTargetAudit)
		return out.err
	}
	if err := checkControllerDown(ctx, opts, f, c, key); err != nil {
		return err
	}
	if err := recordRelease(ctx, opts, f, c, obj, out); err != nil {
		return err
	}
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, v1alpha1.FinalizerTargetAudit)
	if err := c.Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) {
			// The controller came back and let it go first.
			out.printf("OffsiteTarget %s is gone\n", key)
			return out.err
		}
		return fmt.Errorf("target release: remove the finalizer of OffsiteTarget %s: %w", key, err)
	}
	out.printf("released OffsiteTarget %s\n", key)
	return out.err
}

// recordRelease writes the deletion entry of obj when its log recorded it;
// it fails when the entry cannot be written, unless --unrecorded.
func recordRelease(ctx context.Context, opts *options, f *releaseFlags, c client.Client, obj *v1alpha1.OffsiteTarget, out *printer) error {
	key := client.ObjectKeyFromObject(obj)
	if obj.Status.Audited == nil {
		out.printf("the audit log never recorded OffsiteTarget %s: no deletion entry to write\n", key)
		return nil
	}
	e, err := writeDeletion(ctx, f, c, obj)
	if err == nil {
		out.printf("audit entry %d recorded (%s): OffsiteTarget %s deleted\n", e.Seq, e.Hash, key)
		return nil
	}
	why := oneLine(err)
	if errors.Is(err, errNoAuditKey) {
		why = "no restore key (give --signing-key FILE or set " + SigningKeyEnv + ", or name an audit key Secret in the target's spec.auditKeySecretRef)"
	}
	if !f.unrecorded {
		return fmt.Errorf("target release: the deletion of OffsiteTarget %s cannot be recorded in its audit log: %s; fix that, or give --unrecorded to let it go without the entry", key, why)
	}
	_, _ = fmt.Fprintf(opts.streams.Err, "safekeep: %s the deletion of OffsiteTarget %s: %s\n", noAuditEntry, key, why) // a notice; the release goes on
	return nil
}

// writeDeletion opens obj's bucket with its credentials Secret and appends
// the entry the controller would have written.
func writeDeletion(ctx context.Context, f *releaseFlags, c client.Client, obj *v1alpha1.OffsiteTarget) (*audit.Entry, error) {
	cfg, err := target.Config(ctx, c, obj)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("offsite store: %w", err)
	}
	used, err := schedulesUsing(ctx, c, obj)
	if err != nil {
		return nil, err
	}
	rec := target.DeletionRecord(obj, obj.Spec.S3.Endpoint, used)
	usr, host := whoAmI()
	rec.Actor = usr + "@" + host
	return writeAudit(ctx, f.signingKey, &offsite{target: obj, config: cfg, store: st, cluster: c}, rec)
}

// schedulesUsing names the BackupSchedules of obj's namespace that name it.
func schedulesUsing(ctx context.Context, c client.Reader, obj *v1alpha1.OffsiteTarget) ([]string, error) {
	var list v1alpha1.BackupScheduleList
	if err := c.List(ctx, &list, client.InNamespace(obj.Namespace)); err != nil {
		return nil, fmt.Errorf("list BackupSchedules in %s: %w", obj.Namespace, err)
	}
	var names []string
	for _, s := range list.Items {
		if s.Spec.OffsiteTargetRef.Name == obj.Name {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}
