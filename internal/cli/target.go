package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// targetFlags say where the offsite target comes from: a file
// (--target-file, credentials from the AWS environment) or an OffsiteTarget
// in the cluster of the current kubeconfig (--target NAME [-n NAMESPACE],
// credentials and signing key from its Secrets; see target_cluster.go).
type targetFlags struct {
	file string
	// name and namespace of an OffsiteTarget in the cluster.
	name, namespace string
}

func (f *targetFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.file, "target-file", "", "OffsiteTarget object (YAML) describing the offsite bucket (this or --target is required)")
	cmd.Flags().StringVar(&f.name, "target", "", "`NAME` of an OffsiteTarget in the cluster of the current kubeconfig ($KUBECONFIG or ~/.kube/config); credentials come from its Secret")
	cmd.Flags().StringVarP(&f.namespace, "namespace", "n", "", "namespace of the --target OffsiteTarget (default: the kubeconfig context's)")
}

// offsite is an opened offsite target.
type offsite struct {
	target *v1alpha1.OffsiteTarget
	config storage.Config // credentials included: never print it
	store  storage.Store
	// cluster reads the target's Secrets (cluster mode); nil in file mode.
	cluster client.Reader
	// file is the target file (file mode).
	file string
}

// where names the offsite root for messages: endpoint/bucket/prefix.
func (o *offsite) where() string {
	return strings.TrimSuffix(fmt.Sprintf("%s/%s/%s", strings.TrimSuffix(o.config.Endpoint, "/"), o.config.Bucket, o.config.Prefix), "/")
}

// check fails with a usage error unless exactly one target is given.
func (f *targetFlags) check() error {
	switch {
	case f.file != "" && f.name != "":
		return usagef("--target-file and --target are exclusive: give one")
	case f.file == "" && f.name == "":
		return usagef("--target-file is required (or --target NAME, an OffsiteTarget in the cluster)")
	case f.namespace != "" && f.name == "":
		return usagef("--namespace names the namespace of --target; a --target-file needs none")
	}
	return nil
}

// open loads the target and connects to its bucket (file mode: credentials
// from the AWS environment; cluster mode: from the target's Secret).
func (f *targetFlags) open(ctx context.Context) (*offsite, error) {
	if f.name != "" {
		return f.openCluster(ctx)
	}
	t, err := location.LoadOffsiteTarget(f.file)
	if err != nil {
		return nil, err
	}
	cfg, err := location.OffsiteConfigFromEnv(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("offsite credentials: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("offsite store: %w", err)
	}
	logr.FromContextOrDiscard(ctx).V(1).Info("offsite target", "file", f.file, "store", st.String(),
		"recipients", len(t.Spec.Recipients), "objectLock", t.Spec.ObjectLock != nil)
	return &offsite{target: t, config: cfg, store: st, file: f.file}, nil
}

// openStore returns the store of cfg with the default retry policy; retries
// are logged at debug level (--verbose).
func openStore(ctx context.Context, cfg storage.Config) (storage.Store, error) {
	st, err := storage.New(cfg)
	if err != nil {
		return nil, err
	}
	log := logr.FromContextOrDiscard(ctx)
	policy := storage.DefaultRetryPolicy()
	policy.OnRetry = func(op string, attempt int, err error, wait time.Duration) {
		log.V(1).Info("retrying", "store", st.String(), "op", op, "attempt", attempt, "error", oneLine(err), "wait", wait)
	}
	return storage.WithRetry(st, policy), nil
}

// parseBackupRef splits --backup SCHEDULE/NAME, both valid Kubernetes names.
func parseBackupRef(flag, ref string) (schedule, backup string, err error) {
	if ref == "" {
		return "", "", usagef("--%s is required (SCHEDULE/NAME, as 'safekeep backups' lists them)", flag)
	}
	schedule, backup, ok := strings.Cut(ref, "/")
	if !ok {
		return "", "", usagef("--%s %q: want SCHEDULE/NAME, for example manual/%s", flag, ref, ref)
	}
	if schedule == "" || backup == "" || strings.Contains(backup, "/") {
		return "", "", usagef("--%s %q: want SCHEDULE/NAME, for example nightly/nightly-20250101", flag, ref)
	}
	if err := checkName("--"+flag, "schedule", schedule); err != nil {
		return "", "", err
	}
	if err := checkName("--"+flag, "backup", backup); err != nil {
		return "", "", err
	}
	return schedule, backup, nil
}

// checkName is seal.ValidateName as a usage error short enough for one line.
func checkName(flag, what, name string) error {
	if seal.ValidateName(what, name) != nil {
		return usagef("%s: invalid %s name %q: want a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253)", flag, what, name)
	}
	return nil
}

// loadIdentities reads an age identity file (or an OpenSSH private key).
func loadIdentities(path string) ([]crypto.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only: a close error loses nothing
	ids, err := crypto.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: %w", path, crypto.ErrNoIdentities)
	}
	return ids, nil
}

// loadVerifyKey reads a public key given inline (ed25519:<base64>) or as a
// file holding that form or a PEM PUBLIC KEY.
func loadVerifyKey(path string) (*crypto.VerifyKey, error) {
	if strings.HasPrefix(path, "ed25519:") {
		k, err := crypto.ParseVerifyKey([]byte(path))
		if err != nil {
			return nil, err
		}
		return &k, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := crypto.ParseVerifyKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &k, nil
}

// prefixed puts "prefix: " before err unless its text already starts so.
func prefixed(prefix string, err error) error {
	if err == nil || strings.HasPrefix(err.Error(), prefix) {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
