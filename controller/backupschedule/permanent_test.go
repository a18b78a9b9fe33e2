package backupschedule

import (
	"context"
	"fmt"
	"testing"

	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
)

// TestPermanentSealError: a seal that panicked (on bucket contents it could
// not handle) ends its run like a conflict, rather than being retried into
// the same panic; passing troubles are retried.
func TestPermanentSealError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: runtime error: index out of range [3] with length 3", kit.ErrPanic), true},
		{fmt.Errorf("seal nightly/b1: %w", seal.ErrSealConflict), true},
		{fmt.Errorf("put: %w", storage.ErrAccessDenied), false},
		{context.DeadlineExceeded, false},
	} {
		if got := permanentSealError(tc.err); got != tc.want {
			t.Errorf("permanentSealError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
