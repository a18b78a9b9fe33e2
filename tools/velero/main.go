// Command velero is Velero's own command (github.com/vmware-tanzu/velero/cmd/velero,
// same code, same flags) with one change for the test bed: the controller-runtime
// metrics server that `velero server` otherwise starts on :8080, on every
// interface and with no flag to move it, is off. Velero's own metrics stay on
// --metrics-address. So several servers run side by side on loopback only.
package main

import (
	"os"
	"path/filepath"

	"github.com/vmware-tanzu/velero/pkg/cmd"
	"github.com/vmware-tanzu/velero/pkg/cmd/velero"
	"k8s.io/klog/v2"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func main() {
	// Velero's manager options leave Metrics.BindAddress empty, which means
	// this default; "0" disables the server.
	metricsserver.DefaultBindAddress = "0"

	defer klog.Flush()
	err := velero.NewCommand(filepath.Base(os.Args[0])).Execute()
	cmd.CheckError(err)
}
