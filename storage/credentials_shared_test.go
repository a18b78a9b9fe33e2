package storage

import (
	"strings"
	"testing"
)

func TestParseSharedCredentials(t *testing.T) {
	const text = `# velero
[default]
aws_access_key_id = AKDEFAULT
aws_secret_access_key=SKDEFAULT

[profile primary]
aws_access_key_id=AKPRIMARY
aws_secret_access_key = SKPRIMARY
aws_session_token = TOKEN
`
	tests := []struct {
		text, profile string
		wantAK        string
		wantErr       string
	}{
		{text, "default", "AKDEFAULT", ""},
		{text, "primary", "AKPRIMARY", ""},
		{text, "other", "", "no [other] profile"},
		{"[default]\naws_access_key_id=A\n", "default", "", "no aws_access_key_id and aws_secret_access_key"},
		{"[default\nx=y\n", "default", "", "line 1: malformed section header"},
		{"[default]\nSECRETLINE\n", "default", "", "line 2 is neither"},
	}
	for _, tt := range tests {
		c, err := ParseSharedCredentials([]byte(tt.text), tt.profile)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("profile %s: error %v, want %q", tt.profile, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || c.AccessKeyID != tt.wantAK):
			t.Errorf("profile %s: %v, %v; want access key %s", tt.profile, c.AccessKeyID, err, tt.wantAK)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the file: %v", err)
		}
	}
}

func FuzzParseSharedCredentials(f *testing.F) {
	f.Add([]byte("[default]\naws_access_key_id=A\naws_secret_access_key=B\n"), "default")
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		c, err := ParseSharedCredentials(data, profile)
		if err == nil && (c.AccessKeyID == "" || c.SecretAccessKey == "") {
			t.Fatal("accepted credentials without keys")
		}
		if err != nil && c.SecretAccessKey != "" && strings.Contains(err.Error(), c.SecretAccessKey) {
			t.Fatal("error shows the secret")
		}
	})
}
