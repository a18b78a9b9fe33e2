package storage_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

func TestNewValidates(t *testing.T) {
	good := storage.Config{
		Endpoint: "https://s3.example.com", Bucket: "offsite",
		Credentials: storage.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "sekrit-value"},
	}
	for _, tc := range []struct {
		name  string
		edit  func(*storage.Config)
		field string // the error must name it; "" means valid
	}{
		{"valid", func(*storage.Config) {}, ""},
		{"http with port", func(c *storage.Config) { c.Endpoint = "http://127.0.0.1:7070" }, ""},
		{"trailing slash", func(c *storage.Config) { c.Endpoint = "http://127.0.0.1:7070/" }, ""},
		{"empty endpoint", func(c *storage.Config) { c.Endpoint = "" }, "endpoint"},
		{"no scheme", func(c *storage.Config) { c.Endpoint = "s3.example.com" }, "endpoint"},
		{"ftp", func(c *storage.Config) { c.Endpoint = "ftp://s3.example.com" }, "endpoint"},
		{"path", func(c *storage.Config) { c.Endpoint = "https://s3.example.com/bucket" }, "endpoint"},
		{"userinfo", func(c *storage.Config) { c.Endpoint = "https://AKID:sekrit-value@s3.example.com" }, "endpoint"},
		{"bad URL", func(c *storage.Config) { c.Endpoint = "http://[::1" }, "endpoint"},
		{"empty bucket", func(c *storage.Config) { c.Bucket = "" }, "bucket"},
		{"bad bucket", func(c *storage.Config) { c.Bucket = "No_Such..Bucket" }, "bucket"},
		{"part too small", func(c *storage.Config) { c.PartSize = 1 << 20 }, "partSize"},
		{"part too large", func(c *storage.Config) { c.PartSize = 6 << 30 }, "partSize"},
		{"bad CA", func(c *storage.Config) { c.CABundle = []byte("not a certificate") }, "caBundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := storage.New(cfg)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %q does not name %s", err, tc.field)
			}
			if strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error %q holds the secret", err)
			}
		})
	}
}

func TestStringHidesCredentials(t *testing.T) {
	cfg := storage.Config{
		Endpoint: "http://127.0.0.1:7070", Bucket: "offsite", Prefix: "/cluster-a/",
		Credentials: storage.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "sekrit-value", SessionToken: "tok-value"},
	}
	s, err := storage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "s3 http://127.0.0.1:7070/offsite/cluster-a/"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, text := range []string{s.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), fmt.Sprint(storage.WithRetry(s, storage.RetryPolicy{}))} {
		for _, secret := range []string{"sekrit-value", "tok-value"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q holds a credential", text)
			}
		}
	}
}
