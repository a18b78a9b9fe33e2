package cli

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// leaseState is what the controller's leader-election Lease says.
type leaseState struct {
	// held: a holder renewed it less than its duration ago.
	held bool
	// found: the Lease exists.
	found  bool
	holder string
	// renewed is the holder's last renewal (its clock), until when it
	// holds the Lease without renewing.
	renewed, until time.Time
}

// controllerLease reads the Lease safekeep-controller replicas take with
// --leader-elect in namespace ns and says whether it is held at now: a
// holder is named and its last renewal (else acquisition) plus the
// Lease's duration is after now. A Lease released on shutdown names no
// holder; an expired one names the replica that stopped without releasing
// it.
func controllerLease(ctx context.Context, c client.Reader, ns string, now time.Time) (leaseState, error) {
	lease := &coordinationv1.Lease{}
	err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.ControllerLeaseName}, lease)
	if apierrors.IsNotFound(err) {
		return leaseState{}, nil
	}
	if err != nil {
		return leaseState{}, fmt.Errorf("read the controller's Lease %s/%s: %w", ns, v1alpha1.ControllerLeaseName, err)
	}
	st := leaseState{found: true}
	spec := lease.Spec
	if spec.HolderIdentity != nil {
		st.holder = *spec.HolderIdentity
	}
	switch {
	case spec.RenewTime != nil:
		st.renewed = spec.RenewTime.Time
	case spec.AcquireTime != nil:
		st.renewed = spec.AcquireTime.Time
	}
	if spec.LeaseDurationSeconds != nil {
		st.until = st.renewed.Add(time.Duration(*spec.LeaseDurationSeconds) * time.Second)
	}
	st.held = st.holder != "" && st.until.After(now)
	return st, nil
}

// checkControllerDown refuses a release while a controller holds its
// Lease in f.controllerNamespace (it records the deletion itself), and
// when the Lease cannot be read, unless --ignore-lease.
func checkControllerDown(ctx context.Context, opts *options, f *releaseFlags, c client.Reader, target client.ObjectKey) error {
	st, err := controllerLease(ctx, c, f.controllerNamespace, time.Now())
	if f.ignoreLease {
		if err == nil && st.held {
			_, _ = fmt.Fprintf(opts.streams.Err, "safekeep: the controller %s holds its Lease; releasing OffsiteTarget %s anyway (--ignore-lease)\n", st.holder, target) // a notice; the release goes on
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("target release: cannot tell whether the controller is running: %w; give --controller-namespace NS if it runs elsewhere, or --ignore-lease to release OffsiteTarget %s anyway", err, target)
	}
	if st.held {
		return fmt.Errorf("target release: the controller is running: %s holds the Lease %s/%s (renewed %s, held until %s); it records the deletion of OffsiteTarget %s itself (see its Events if it does not); stop it first, or give --ignore-lease",
			st.holder, f.controllerNamespace, v1alpha1.ControllerLeaseName, st.renewed.UTC().Format(time.RFC3339), st.until.UTC().Format(time.RFC3339), target)
	}
	return nil
}
