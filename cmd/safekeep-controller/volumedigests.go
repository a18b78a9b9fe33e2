package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/safekeep-dev/safekeep/volume"
)

// volumeDigestsCommand is the subcommand the Level 2 drill's reader Job
// runs in a scratch namespace, with each restored volume mounted
// read-only: `safekeep-controller volume-digests [--summary=FILE] DIR...`.
const volumeDigestsCommand = "volume-digests"

// summaryFlag names the file the summaries go to (the container's
// termination message, /dev/termination-log).
const summaryFlag = "--summary="

// runVolumeDigests writes the digest list (volume.WriteDigestList) of
// each folder to stdout, the pod's log, which the controller reads, and,
// with --summary=FILE, each folder's summary (volume.WriteSummaries) to
// FILE: the termination message, which survives a rotated log. A folder
// that cannot be read to the end gets an error line, and the exit status
// is 1; the others are still listed.
func runVolumeDigests(args []string, stdout, stderr io.Writer) int {
	var summary string
	if len(args) > 0 && strings.HasPrefix(args[0], summaryFlag) {
		summary, args = strings.TrimPrefix(args[0], summaryFlag), args[1:]
	}
	if len(args) == 0 {
		_, _ = fmt.Fprintf(stderr, "usage: safekeep-controller %s [%sFILE] DIR...\n", volumeDigestsCommand, summaryFlag) // best effort
		return exitUsage
	}
	code := exitOK
	reads := make([]volume.DigestListRead, len(args))
	for i, dir := range args {
		d, err := volume.WriteDigestList(stdout, i, volume.LocalDir(dir))
		reads[i] = volume.DigestListRead{Digests: d, Err: err}
		if err != nil {
			_, _ = fmt.Fprintf(stderr, "safekeep-controller %s: volume %d: %v\n", volumeDigestsCommand, i, err) // best effort
			code = exitFailure
		}
	}
	if summary != "" {
		if err := writeSummaries(summary, reads); err != nil {
			_, _ = fmt.Fprintf(stderr, "safekeep-controller %s: summaries: %v\n", volumeDigestsCommand, err) // best effort
			code = exitFailure
		}
	}
	return code
}

// writeSummaries writes the summaries of reads to path, which exists (the
// kubelet's termination-log file).
func writeSummaries(path string, reads []volume.DigestListRead) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := volume.WriteSummaries(f, reads); err != nil {
		_ = f.Close() // the write's error is the one to report
		return err
	}
	return f.Close()
}
