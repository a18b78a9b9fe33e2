package drill

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/storage"
)

// pollInterval is how often Run looks at a Restore or a Job.
const pollInterval = 250 * time.Millisecond

// maxResultsSize bounds the restore results file read from the bucket.
const maxResultsSize = 16 << 20

// ErrCollision: an object Run must create exists already (a namespace, the
// staged Backup, the Restore): another run uses the same names.
var ErrCollision = errors.New("drill object exists already")

// createNamespaces creates each destination namespace with the run's
// labels and LabelScratch and, with Options.Isolation, its PodSecurity
// labels and the objects that isolate it (before any Restore exists).
func (r *runner) createNamespaces(ctx context.Context, dests []string) error {
	labels := maps.Clone(r.opts.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	nsLabels := maps.Clone(labels)
	nsLabels[LabelScratch] = "true"
	if iso := r.opts.Isolation; iso != nil {
		maps.Copy(nsLabels, iso.namespaceLabels())
	}
	for _, ns := range dests {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: nsLabels}}
		err := r.opts.Client.Create(ctx, obj)
		switch {
		case apierrors.IsAlreadyExists(err):
			return fmt.Errorf("%w: namespace %s", ErrCollision, ns)
		case err != nil:
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		if r.opts.Isolation != nil {
			if err := r.isolate(ctx, ns, labels); err != nil {
				return err
			}
		}
	}
	return nil
}

// createBackup creates the staged Backup object, phase Completed, from the
// staged velero-backup.json. Velero's backup sync may have created it from
// the same file first: a Backup of that name is accepted when it is this
// run's staged copy.
func (r *runner) createBackup(ctx context.Context, data []byte) error {
	b, err := decodeBackup(data)
	if err != nil {
		return err
	}
	err = r.opts.Client.Create(ctx, b)
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("create Backup %s/%s: %w", b.Namespace, b.Name, err)
		}
		return nil
	}
	got := &velerov1.Backup{}
	if err := r.opts.Client.Get(ctx, client.ObjectKeyFromObject(b), got); err != nil {
		return fmt.Errorf("read Backup %s/%s: %w", b.Namespace, b.Name, err)
	}
	for k, v := range b.Labels {
		if k != velerov1.StorageLocationLabel && got.Labels[k] != v {
			return fmt.Errorf("%w: Backup %s/%s", ErrCollision, b.Namespace, b.Name)
		}
	}
	if got.Annotations[AnnotationSource] != b.Annotations[AnnotationSource] || got.Spec.StorageLocation != r.opts.StagingLocation {
		return fmt.Errorf("%w: Backup %s/%s", ErrCollision, b.Namespace, b.Name)
	}
	return nil
}

// createRestore creates the Restore of the staged backup into the mapped
// namespaces, leaving existing objects alone; with Isolation, leaving out
// the kinds it excludes and changing objects through the resource
// modifiers ConfigMap named modifiers (when not "").
func (r *runner) createRestore(ctx context.Context, mapping map[string]string, modifiers string) (*velerov1.Restore, error) {
	sources := slices.Sorted(maps.Keys(mapping))
	rs := &velerov1.Restore{
		ObjectMeta: metav1.ObjectMeta{
			Name: r.opts.StagedName, Namespace: r.opts.VeleroNamespace, Labels: r.stagedLabels(),
			Annotations: map[string]string{AnnotationSource: r.opts.Schedule + "/" + r.opts.Backup},
		},
		Spec: velerov1.RestoreSpec{
			BackupName: r.opts.StagedName,
			// Only the backup's namespaces: cluster-scoped resources are
			// then restored only where a namespaced item needs them.
			IncludedNamespaces:     sources,
			NamespaceMapping:       mapping,
			ExistingResourcePolicy: velerov1.PolicyTypeNone,
			RestorePVs:             r.opts.RestorePVs,
		},
	}
	if iso := r.opts.Isolation; iso != nil {
		rs.Spec.ExcludedResources = iso.excludedResources()
	}
	if modifiers != "" {
		rs.Spec.ResourceModifier = &corev1.TypedLocalObjectReference{Kind: "configmap", Name: modifiers}
	}
	err := r.opts.Client.Create(ctx, rs)
	switch {
	case apierrors.IsAlreadyExists(err):
		return nil, fmt.Errorf("%w: Restore %s/%s", ErrCollision, rs.Namespace, rs.Name)
	case err != nil:
		return nil, fmt.Errorf("create Restore %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return rs, nil
}

// terminal reports whether a Restore phase is final.
func terminal(p velerov1.RestorePhase) bool {
	switch p {
	case velerov1.RestorePhaseCompleted, velerov1.RestorePhasePartiallyFailed,
		velerov1.RestorePhaseFailed, velerov1.RestorePhaseFailedValidation:
		return true
	}
	return false
}

// waitRestore polls the Restore until it reaches a final phase or
// RestoreTimeout passes, reporting progress. It returns the last state
// seen and whether it timed out; an error is a failing API read or ctx.
func (r *runner) waitRestore(ctx context.Context, rs *velerov1.Restore) (bool, error) {
	key := client.ObjectKeyFromObject(rs)
	err := wait.PollUntilContextTimeout(ctx, pollInterval, r.opts.RestoreTimeout, true, func(ctx context.Context) (bool, error) {
		if err := r.opts.Client.Get(ctx, key, rs); err != nil {
			if apierrors.IsNotFound(err) {
				return false, fmt.Errorf("restore %s disappeared", key)
			}
			return false, nil // transient: the next poll tries again
		}
		if p := rs.Status.Progress; p != nil {
			r.progress.step(Step{Phase: PhaseRestore, Done: int64(p.ItemsRestored), Total: int64(p.TotalItems), Message: string(rs.Status.Phase)})
		}
		return terminal(rs.Status.Phase), nil
	})
	switch {
	case err == nil:
		return false, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case wait.Interrupted(err):
		return true, nil
	}
	return false, err
}

// restoreResults are Velero's restore results file: warnings and errors,
// Velero's own, cluster-scoped and by namespace (pkg/util/results).
type restoreResults struct {
	Warnings veleroResult `json:"warnings"`
	Errors   veleroResult `json:"errors"`
}

type veleroResult struct {
	Velero     []string            `json:"velero,omitempty"`
	Cluster    []string            `json:"cluster,omitempty"`
	Namespaces map[string][]string `json:"namespaces,omitempty"`
}

// messages flattens a result: "velero: ...", "cluster: ...", "<ns>: ...".
func (v veleroResult) messages() []string {
	var out []string
	for _, m := range v.Velero {
		out = append(out, "velero: "+m)
	}
	for _, m := range v.Cluster {
		out = append(out, "cluster: "+m)
	}
	for _, ns := range slices.Sorted(maps.Keys(v.Namespaces)) {
		for _, m := range v.Namespaces[ns] {
			out = append(out, ns+": "+m)
		}
	}
	return out
}

// readResults reads restores/<r>/restore-<r>-results.gz from the staging
// location, where Velero writes it when the restore ends.
func readResults(ctx context.Context, st storage.Store, restore string) (*restoreResults, error) {
	key := "restores/" + restore + "/restore-" + restore + "-results.gz"
	rc, _, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }() // read-only: a close error loses nothing
	zr, err := gzip.NewReader(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	var res restoreResults
	if err := json.NewDecoder(io.LimitReader(zr, maxResultsSize)).Decode(&res); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return &res, nil
}
