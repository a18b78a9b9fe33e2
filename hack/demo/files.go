package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"

	"github.com/safekeep-dev/safekeep/internal/sample"
	"github.com/safekeep-dev/safekeep/internal/testbed"
)

type demoFiles struct {
	identity, signingKey, credentials string
}

// writeFiles names the demo's key files and writes the S3 credentials (0600)
// for trying the CLI by hand afterwards.
func writeFiles(r *runner, dir string, s3 *testbed.S3Server) demoFiles {
	f := demoFiles{
		identity:    filepath.Join(dir, "identity.txt"),
		signingKey:  filepath.Join(dir, "signing.key"),
		credentials: filepath.Join(dir, "s3-credentials.env"),
	}
	write(r, f.credentials, fmt.Sprintf("AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n", s3.AccessKey, s3.SecretKey))
	return f
}

func write(r *runner, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		r.Fatalf("write %s: %v", path, err)
	}
}

// scanOffsite counts the offsite objects that show marker in any plaintext form.
func scanOffsite(r *runner, s3 *testbed.S3Server, marker string) int {
	mc := s3.Minio(r)
	n, found := 0, 0
	for info := range mc.ListObjects(r.Context(), offsiteBucket, minio.ListObjectsOptions{Recursive: true}) {
		if info.Err != nil {
			r.Fatalf("list offsite: %v", info.Err)
		}
		obj, err := mc.GetObject(r.Context(), offsiteBucket, info.Key, minio.GetObjectOptions{})
		if err != nil {
			r.Fatalf("get %s: %v", info.Key, err)
		}
		body, err := io.ReadAll(obj)
		_ = obj.Close() // read-only, fully read
		if err != nil {
			r.Fatalf("read %s: %v", info.Key, err)
		}
		n++
		if sample.ContainsMarker(body, marker, 3) {
			found++
		}
	}
	fmt.Printf("    scanned %d offsite objects\n", n)
	return found
}
