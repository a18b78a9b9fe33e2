package testbed

import (
	"os"
	"strings"
)

// strippedEnv lists variables ChildEnv removes: AWS_CA_BUNDLE (AWS-SDK
// clients refuse loopback HTTP with it, see TESTBED.md) and every AWS
// credential, profile and config source, so a child process sees only the
// credentials a test hands it.
var strippedEnv = map[string]bool{
	"AWS_CA_BUNDLE":                          true,
	"AWS_ACCESS_KEY_ID":                      true,
	"AWS_SECRET_ACCESS_KEY":                  true,
	"AWS_SESSION_TOKEN":                      true,
	"AWS_SECURITY_TOKEN":                     true,
	"AWS_PROFILE":                            true,
	"AWS_DEFAULT_PROFILE":                    true,
	"AWS_SHARED_CREDENTIALS_FILE":            true,
	"AWS_CONFIG_FILE":                        true,
	"AWS_ROLE_ARN":                           true,
	"AWS_WEB_IDENTITY_TOKEN_FILE":            true,
	"AWS_CONTAINER_CREDENTIALS_FULL_URI":     true,
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": true,
	"AWS_CONTAINER_AUTHORIZATION_TOKEN":      true,
}

// ChildEnv returns the environment for a process a test starts: os.Environ()
// without AWS_CA_BUNDLE and the AWS credential, profile and config variables,
// plus extra "KEY=VALUE" entries. An extra entry replaces any earlier entry
// of the same key, so later ones win.
func ChildEnv(extra ...string) []string {
	env := make([]string, 0, len(os.Environ())+len(extra))
	for _, kv := range os.Environ() {
		if !strippedEnv[envKey(kv)] {
			env = append(env, kv)
		}
	}
	for _, kv := range extra {
		k := envKey(kv)
		env = deleteKey(env, k)
		env = append(env, kv)
	}
	return env
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func deleteKey(env []string, key string) []string {
	out := env[:0]
	for _, kv := range env {
		if envKey(kv) != key {
			out = append(out, kv)
		}
	}
	return out
}
