// Command volverify runs the Level 1 volume drill (volume.Verify) on one
// sealed volume in a process of its own, so that BenchmarkVolumeVerify
// measures its wall time, CPU and peak RSS beside `kopia snapshot verify`.
// The offsite credentials come from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/seal"
	"github.com/safekeep-dev/safekeep/storage"
	"github.com/safekeep-dev/safekeep/volume"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "volverify:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	endpoint := flag.String("endpoint", "", "offsite S3 endpoint URL")
	bucket := flag.String("bucket", "", "offsite bucket")
	prefix := flag.String("prefix", "", "the target's prefix")
	backup := flag.String("backup", "", "SCHEDULE/NAME of the sealed backup")
	identity := flag.String("identity", "", "age identity file")
	verifyKey := flag.String("verify-key", "", "the seal's public key (ed25519:...)")
	only := flag.String("volume", "", "NAMESPACE/POD/VOLUME")
	flag.Parse()
	schedule, name, ok := strings.Cut(*backup, "/")
	if !ok {
		return fmt.Errorf("--backup %q: want SCHEDULE/NAME", *backup)
	}
	f, err := os.Open(*identity)
	if err != nil {
		return err
	}
	ids, err := crypto.ParseIdentities(f)
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	vk, err := crypto.ParseVerifyKey([]byte(*verifyKey))
	if err != nil {
		return fmt.Errorf("verify key: %w", err)
	}
	st, err := storage.New(storage.Config{Endpoint: *endpoint, Bucket: *bucket, Prefix: *prefix + "/safekeep/v1",
		Region: "us-east-1", PathStyle: true, Credentials: storage.Credentials{
			AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY")}})
	if err != nil {
		return err
	}
	offsite := storage.WithRetry(st, storage.DefaultRetryPolicy()) // as Safekeep's commands do
	o, err := seal.Open(ctx, offsite, schedule, name, seal.VerifyOptions{VerifyKey: &vk, Identities: ids})
	if err != nil {
		return err
	}
	got, err := volume.Verify(ctx, offsite, o.Manifest, ids, volume.VerifyOptions{Only: *only})
	if err != nil {
		return err
	}
	for _, v := range got {
		if !v.OK() {
			return fmt.Errorf("volume %s: %v", volume.Name(v.Volume), v.Findings)
		}
		fmt.Printf("verified %s: %d files, %d bytes\n", volume.Name(v.Volume), v.Files, v.Bytes)
	}
	return nil
}
