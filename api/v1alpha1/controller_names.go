package v1alpha1

// ControllerLeaseName is the coordination.k8s.io Lease that
// safekeep-controller replicas started with --leader-elect compete for, in
// the controller's namespace. `safekeep target release` reads it to tell
// whether a controller is running.
const ControllerLeaseName = "safekeep-controller.safekeep.dev"

// DefaultControllerNamespace is the controller's namespace when nothing
// else names it (deploy/, the Helm chart's default).
const DefaultControllerNamespace = "safekeep-system"
