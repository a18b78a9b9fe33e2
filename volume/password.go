package volume

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Velero's repository password: this Secret in Velero's namespace
// (pkg/repository/keys in Velero).
const (
	PasswordSecret = "velero-repo-credentials"
	PasswordKey    = "repository-password"
)

// PasswordFromSecret returns a Planner.Password that gets Velero's
// repository password Secret by name in veleroNamespace. The password is
// never logged nor put in an error.
func PasswordFromSecret(c client.Reader, veleroNamespace string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		var s corev1.Secret
		if err := c.Get(ctx, client.ObjectKey{Namespace: veleroNamespace, Name: PasswordSecret}, &s); err != nil {
			return "", fmt.Errorf("secret %s/%s: %w", veleroNamespace, PasswordSecret, err)
		}
		pw, ok := s.Data[PasswordKey]
		if !ok || len(pw) == 0 {
			return "", fmt.Errorf("secret %s/%s has no key %s", veleroNamespace, PasswordSecret, PasswordKey)
		}
		return string(pw), nil
	}
}
