package testbed

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

func TestStartS3(t *testing.T) {
	s := StartS3(t)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("Endpoint = %s, want loopback", s.Endpoint)
	}
	ctx := t.Context()
	mc := s.Minio(t)

	s.CreateBucket(t, "locked", true)
	s.CreateBucket(t, "plain", false)

	enabled, _, _, _, err := mc.GetObjectLockConfig(ctx, "locked")
	if err != nil {
		t.Fatalf("GetObjectLockConfig(locked): %v", err)
	}
	if enabled != "Enabled" {
		t.Fatalf("object lock on bucket created with it = %q, want Enabled", enabled)
	}
	if _, _, _, _, err := mc.GetObjectLockConfig(ctx, "plain"); err == nil {
		t.Fatal("GetObjectLockConfig(plain) succeeded; want an error for a bucket without object lock")
	}

	cfg := s.Config("locked", "p")
	if cfg.Endpoint != s.Endpoint || cfg.Bucket != "locked" || cfg.Prefix != "p" || !cfg.PathStyle ||
		cfg.Credentials.AccessKeyID != s.AccessKey || cfg.Credentials.SecretAccessKey != s.SecretKey {
		t.Fatalf("Config does not describe the server")
	}

	// Data survives a stop and restart on the same endpoint.
	body := []byte("survives restarts")
	if _, err := mc.PutObject(ctx, "plain", "k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	s.Stop(t)
	if _, err := mc.StatObject(ctx, "plain", "k", minio.StatObjectOptions{}); err == nil {
		t.Fatal("StatObject succeeded on a stopped server")
	}
	s.Restart(t)
	obj, err := mc.GetObject(ctx, "plain", "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	got, err := io.ReadAll(obj)
	_ = obj.Close() // read-only, fully read
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject after restart = %q, %v; want %q", got, err, body)
	}
}

func TestStartS3WrongSecret(t *testing.T) {
	s := StartS3(t)
	s.CreateBucket(t, "bkt", false)
	wrong := &S3Server{Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: "not-the-secret"}
	_, err := wrong.Minio(t).StatObject(t.Context(), "bkt", "k", minio.StatObjectOptions{})
	if code := minio.ToErrorResponse(err).Code; code != "SignatureDoesNotMatch" && code != "AccessDenied" {
		t.Fatalf("StatObject with a wrong secret: %v (code %q), want a signature error", err, code)
	}
}
