// Command demo runs Safekeep's main job on the local test bed: VersityGW as
// the S3 server, etcd and kube-apiserver as the cluster, and the real Velero
// server with its AWS plugin. It backs up a PHI-like application with Velero,
// seals the backup offsite with the safekeep CLI, verifies it with and without
// a key, and restores it to a directory. `make demo` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
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
		os.Exit(1)
	}
}
