package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safekeep-dev/safekeep/storage"
)

// isolateAWSEnv clears every AWS variable and points HOME at an empty
// folder, so the test sees only what it sets.
func isolateAWSEnv(t *testing.T) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restores the value after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	return home
}

const sharedCredentials = `[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-default

[offsite]
aws_access_key_id = AKIDOFFSITE
aws_secret_access_key = secret-offsite
aws_session_token = token-offsite

[half]
aws_access_key_id = AKIDHALF
`

func TestCredentialsFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		file    string // written to ~/.aws/credentials when set
		profile string
		want    storage.Credentials
		wantErr string // substring; the error must also wrap ErrNoCredentials
	}{
		{
			name: "env",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret-env", "AWS_SESSION_TOKEN": "token-env"},
			file: sharedCredentials,
			want: storage.Credentials{AccessKeyID: "AKIDENV", SecretAccessKey: "secret-env", SessionToken: "token-env"},
		},
		{
			name: "default profile",
			file: sharedCredentials,
			want: storage.Credentials{AccessKeyID: "AKIDDEFAULT", SecretAccessKey: "secret-default"},
		},
		{
			name: "AWS_PROFILE",
			env:  map[string]string{"AWS_PROFILE": "offsite"},
			file: sharedCredentials,
			want: storage.Credentials{AccessKeyID: "AKIDOFFSITE", SecretAccessKey: "secret-offsite", SessionToken: "token-offsite"},
		},
		{
			name:    "explicit profile beats env and AWS_PROFILE",
			env:     map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret-env", "AWS_PROFILE": "default"},
			file:    sharedCredentials,
			profile: "offsite",
			want:    storage.Credentials{AccessKeyID: "AKIDOFFSITE", SecretAccessKey: "secret-offsite", SessionToken: "token-offsite"},
		},
		{
			name: "AWS_SHARED_CREDENTIALS_FILE",
			env:  map[string]string{"AWS_SHARED_CREDENTIALS_FILE": "elsewhere"},
			want: storage.Credentials{AccessKeyID: "AKIDDEFAULT", SecretAccessKey: "secret-default"},
		},
		{
			name: "half env falls back to file",
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "AKIDENV"},
			file: sharedCredentials,
			want: storage.Credentials{AccessKeyID: "AKIDDEFAULT", SecretAccessKey: "secret-default"},
		},
		{name: "nothing", wantErr: "do not exist"},
		{name: "missing profile", file: sharedCredentials, profile: "nope", wantErr: `profile "nope"`},
		{name: "partial profile", file: sharedCredentials, profile: "half", wantErr: "partial"},
		{
			name:    "malformed file hides its lines",
			file:    "[default]\naws_secret_access_key secret-malformed\n",
			wantErr: "details withheld",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := isolateAWSEnv(t)
			for k, v := range tc.env {
				if k == "AWS_SHARED_CREDENTIALS_FILE" {
					v = filepath.Join(home, v)
					if err := os.WriteFile(v, []byte(sharedCredentials), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				t.Setenv(k, v)
			}
			if tc.file != "" {
				dir := filepath.Join(home, ".aws")
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := storage.CredentialsFromEnv(t.Context(), tc.profile)
			if tc.wantErr != "" {
				if !errors.Is(err, storage.ErrNoCredentials) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want ErrNoCredentials saying %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret-") {
					t.Fatalf("error %q holds a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CredentialsFromEnv(%q): %v", tc.profile, err)
			}
			if got != tc.want {
				t.Fatalf("CredentialsFromEnv(%q) = %s/%q, want %s/%q", tc.profile, got.AccessKeyID, got.SessionToken, tc.want.AccessKeyID, tc.want.SessionToken)
			}
		})
	}
}
