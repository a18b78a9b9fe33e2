// Command demo runs Safekeep's main job on the local test bed: VersityGW as
// the S3 server, etcd and kube-apiserver as the cluster, and the real Velero
// server with its AWS plugin, and safekeep-controller as a process. A
// BackupSchedule backs up a PHI-like application every minute; the controller
// seals each backup offsite; the CLI then lists, verifies and restores it the
// way a responder would. `make demo` runs it and `make demo-down` stops it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
)

func main() {
	dir := flag.String("dir", ".demo", "folder for the demo's state (keys, kubeconfig, restored files)")
	keep := flag.Bool("keep", false, "leave the test bed running until interrupted")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*dir)
	if err == nil {
		err = os.RemoveAll(abs)
	}
	if err == nil {
		err = os.MkdirAll(abs, 0o700)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: state folder: %v\n", err)
		os.Exit(1)
	}

	// `make demo-down` stops the demo from another terminal with this.
	pidFile := filepath.Join(abs, "demo.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
	defer func() { _ = os.Remove(pidFile) }()

	r := &runner{ctx: ctx, dir: abs, keep: *keep}
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(r, abs)
		if *keep && !r.Failed() {
			<-ctx.Done()
		}
	}()
	<-done
	r.cleanup()
	if r.Failed() {
		_ = os.Remove(pidFile)
		os.Exit(1)
	}
}
