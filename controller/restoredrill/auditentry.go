package restoredrill

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
)

// errRunNotFinished: the run of a written entry is still in flight in the
// drill's status; its entry is named once the run is recorded.
var errRunNotFinished = errors.New("drill run not recorded as finished yet")

// AuditWritten returns the hook (auditlog.Auditor.OnWritten, owner
// auditlog.OwnerRestoreDrill) that names a deferred drill entry in the
// run's status once the entry is in the log. subject is the entry's,
// "<namespace>/<drill>/<run>". A drill or run that is gone needs nothing.
func AuditWritten(c client.Client) func(ctx context.Context, subject string, e *audit.Entry) error {
	return func(ctx context.Context, subject string, e *audit.Entry) error {
		parts := strings.SplitN(subject, "/", 3)
		if len(parts) != 3 {
			return nil // not a drill run's subject: nothing to name
		}
		key, id := client.ObjectKey{Namespace: parts[0], Name: parts[1]}, parts[2]
		entry := &v1alpha1.DrillAuditEntry{Seq: int64(e.Seq), Hash: e.Hash} //nolint:gosec // sequence numbers stay far below 2^63
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d := &v1alpha1.RestoreDrill{}
			if err := c.Get(ctx, key, d); err != nil {
				return err
			}
			if a := d.Status.Active; a != nil && a.ID == id {
				return errRunNotFinished
			}
			changed := false
			for i := range d.Status.History {
				if run := &d.Status.History[i]; run.ID == id && run.AuditEntry == nil {
					run.AuditEntry, changed = entry, true
				}
			}
			if run := d.Status.LastRun; run != nil && run.ID == id && run.AuditEntry == nil {
				run.AuditEntry, changed = entry, true
			}
			if !changed {
				return nil
			}
			return c.Status().Update(ctx, d)
		})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("name audit entry %d in drill %s run %s: %w", e.Seq, key, id, err)
		}
		return nil
	}
}
