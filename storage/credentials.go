package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// ErrNoCredentials: no AWS credentials in the environment or the shared
// credentials file.
var ErrNoCredentials = errors.New("no S3 credentials found")

// CredentialsFromEnv finds S3 credentials the way AWS tools do.
//
// An explicit profile selects that profile of the shared credentials and
// config files, ignoring the AWS_ACCESS_KEY_ID family, as `aws --profile`
// does (a location that names its profile means it). With profile "", the
// variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
// come first; else the profile AWS_PROFILE (or "default") of the files
// AWS_SHARED_CREDENTIALS_FILE (or ~/.aws/credentials) and AWS_CONFIG_FILE
// (or ~/.aws/config). Static keys, credential_process and cached SSO tokens
// are understood (minio-go's providers); the values are a snapshot.
//
// ctx bounds the one network call a lookup can make: fetching role
// credentials from the AWS SSO portal for a profile that uses SSO.
//
// Errors wrap ErrNoCredentials when nothing is found; they name the files
// and profile, never a key.
func CredentialsFromEnv(ctx context.Context, profile string) (Credentials, error) {
	if profile == "" {
		v, err := (&credentials.EnvAWS{}).Retrieve()
		if err == nil && v.AccessKeyID != "" && v.SecretAccessKey != "" {
			return Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken}, nil
		}
	}
	name := profile
	if name == "" {
		name = os.Getenv("AWS_PROFILE")
	}
	if name == "" {
		name = "default"
	}
	files := sharedFiles()
	v, err := (&credentials.FileAWSCredentials{Profile: name}).RetrieveWithCredContext(&credentials.CredContext{Context: ctx})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Credentials{}, fmt.Errorf("%w: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and %s do not exist", ErrNoCredentials, files)
	case err != nil:
		// Parser errors can quote a line of the file, which may be a
		// secret: keep only what kind of failure it was.
		return Credentials{}, fmt.Errorf("%w: profile %q of %s: %s", ErrNoCredentials, name, files, credentialFileProblem(err))
	case v.AccessKeyID == "" || v.SecretAccessKey == "":
		return Credentials{}, fmt.Errorf("%w: profile %q of %s has no aws_access_key_id and aws_secret_access_key", ErrNoCredentials, name, files)
	}
	return Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken}, nil
}

// sharedFiles names the shared credentials and config files, for messages.
func sharedFiles() string {
	creds, config := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), os.Getenv("AWS_CONFIG_FILE")
	if home, err := os.UserHomeDir(); err == nil {
		if creds == "" {
			creds = filepath.Join(home, ".aws", "credentials")
		}
		if config == "" {
			config = filepath.Join(home, ".aws", "config")
		}
	}
	return fmt.Sprintf("%s and %s", creds, config)
}

func credentialFileProblem(err error) string {
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &pathErr):
		return pathErr.Op + ": " + pathErr.Err.Error()
	case strings.HasPrefix(err.Error(), "section ") && strings.HasSuffix(err.Error(), "does not exist"):
		return "no such profile"
	case strings.HasPrefix(err.Error(), "profile has "): // minio-go's own, key-free
		return err.Error()
	}
	return "unreadable (details withheld: the file holds secrets)"
}
