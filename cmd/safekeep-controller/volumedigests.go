package main

import (
	"fmt"
	"io"

	"github.com/safekeep-dev/safekeep/volume"
)

// volumeDigestsCommand is the subcommand the Level 2 drill's reader Job
// runs in a scratch namespace, with each restored volume mounted
// read-only: `safekeep-controller volume-digests DIR...`.
const volumeDigestsCommand = "volume-digests"

// runVolumeDigests writes the digest list (volume.WriteDigestList) of
// each folder to stdout, the pod's log, which the controller reads. A
// folder that cannot be read to the end gets an error line, and the exit
// status is 1; the others are still listed.
func runVolumeDigests(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		_, _ = fmt.Fprintf(stderr, "usage: safekeep-controller %s DIR...\n", volumeDigestsCommand) // best effort
		return exitUsage
	}
	code := exitOK
	for i, dir := range args {
		if err := volume.WriteDigestList(stdout, i, volume.LocalDir(dir)); err != nil {
			_, _ = fmt.Fprintf(stderr, "safekeep-controller %s: volume %d: %v\n", volumeDigestsCommand, i, err) // best effort
			code = exitFailure
		}
	}
	return code
}
