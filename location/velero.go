package location

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/storage"
)

// DefaultCredentialsSecret is the Secret, in the Velero namespace,
// whose "cloud" key holds the credentials of BackupStorageLocations that
// name none (spec.credential), as `velero install` creates it.
const DefaultCredentialsSecret = "cloud-credentials"

// cloudKey is the key of Velero's default credentials Secret.
const cloudKey = "cloud"

// ErrUnusable: a Velero BackupStorageLocation cannot be used (it is missing,
// misconfigured, or its credentials are). The message says which.
var ErrUnusable = errors.New("velero backup storage location unusable")

// Velero reads Velero's BackupStorageLocations from a cluster and opens
// their buckets with the credentials Velero uses for them. The controller
// reads the primary location with it (sealing) and writes a staging
// location (drills); LoadBSL is the same for a file.
type Velero struct {
	// Reader reads BackupStorageLocations and Secrets in Namespace,
	// uncached.
	Reader client.Reader
	// Namespace is the Velero namespace.
	Namespace string
	// Credentials is the Secret whose "cloud" key serves locations that
	// name no credential; "" means DefaultCredentialsSecret.
	Credentials string
	// EnvFallback takes credentials from the AWS environment when their
	// Secret may not be read (the CLI, run by a person who may not read
	// Velero's Secrets). The controller never falls back.
	EnvFallback bool
}

// Store opens the bucket of the BackupStorageLocation named name (the
// default location when empty) with Config's credentials and the default
// retry policy. It returns the location too.
func (v Velero) Store(ctx context.Context, name string) (storage.Store, *velerov1.BackupStorageLocation, error) {
	cfg, bsl, err := v.Config(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	st, err := storage.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: BackupStorageLocation %s/%s: %w", ErrUnusable, v.Namespace, bsl.Name, err)
	}
	return storage.WithRetry(st, storage.DefaultRetryPolicy()), bsl, nil
}

// Config reads the BackupStorageLocation named name (the default location
// when empty) in the Velero namespace and returns its storage
// configuration, with the credentials Velero uses for it: the Secret key
// its spec.credential names, else the "cloud" key of the default
// credentials Secret, in AWS shared-credentials format (profile
// spec.config.profile, or default). With EnvFallback, credentials (and a
// CA certificate) whose Secret may not be read come from the AWS
// environment instead. Problems of the location are errors wrapping
// ErrUnusable; failing API reads are returned wrapped as they are.
func (v Velero) Config(ctx context.Context, name string) (storage.Config, *velerov1.BackupStorageLocation, error) {
	bsl, err := v.Location(ctx, name)
	if err != nil {
		return storage.Config{}, nil, err
	}
	where := "BackupStorageLocation " + v.Namespace + "/" + bsl.Name
	if obs := bsl.Spec.ObjectStorage; obs != nil && obs.CACertRef != nil {
		ca, err := v.secretKey(ctx, *obs.CACertRef)
		switch {
		case err == nil:
			obs.CACert, obs.CACertRef = ca, nil
		case !v.EnvFallback:
			return storage.Config{}, nil, fmt.Errorf("%s: spec.objectStorage.caCertRef: %w", where, err)
		}
	}
	if err := ValidateBSL(bsl); err != nil {
		return storage.Config{}, nil, fmt.Errorf("%w: %s: %w", ErrUnusable, where, err)
	}
	ref := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: cmp.Or(v.Credentials, DefaultCredentialsSecret)}, Key: cloudKey}
	if bsl.Spec.Credential != nil {
		ref = *bsl.Spec.Credential
	}
	data, err := v.secretKey(ctx, ref)
	if err != nil && v.EnvFallback {
		cfg, envErr := BSLConfigFromEnv(ctx, bsl)
		if envErr != nil {
			return storage.Config{}, nil, fmt.Errorf("%s credentials: %w, and the environment has none: %w", where, err, envErr)
		}
		return cfg, bsl, nil
	}
	if err != nil {
		return storage.Config{}, nil, fmt.Errorf("%s credentials: %w", where, err)
	}
	profile := bsl.Spec.Config["profile"]
	if profile == "" {
		profile = "default"
	}
	creds, err := storage.ParseSharedCredentials(data, profile)
	if err != nil {
		return storage.Config{}, nil, fmt.Errorf("%w: %s credentials, Secret %s/%s key %q: %w", ErrUnusable, where, v.Namespace, ref.Name, ref.Key, err)
	}
	return BSLConfig(bsl, creds), bsl, nil
}

// Location reads the named BackupStorageLocation, or the default one.
func (v Velero) Location(ctx context.Context, name string) (*velerov1.BackupStorageLocation, error) {
	if name != "" {
		bsl := &velerov1.BackupStorageLocation{}
		err := v.Reader.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: name}, bsl)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: BackupStorageLocation %s/%s not found", ErrUnusable, v.Namespace, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read BackupStorageLocation %s/%s: %w", v.Namespace, name, err)
		}
		return bsl, nil
	}
	var list velerov1.BackupStorageLocationList
	if err := v.Reader.List(ctx, &list, client.InNamespace(v.Namespace)); err != nil {
		return nil, fmt.Errorf("list BackupStorageLocations in %s: %w", v.Namespace, err)
	}
	for i := range list.Items {
		if list.Items[i].Spec.Default {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("%w: the backup names no storage location and namespace %s has no default BackupStorageLocation", ErrUnusable, v.Namespace)
}

// secretKey reads one key of a Secret in the Velero namespace.
func (v Velero) secretKey(ctx context.Context, ref corev1.SecretKeySelector) ([]byte, error) {
	sec := &corev1.Secret{}
	err := v.Reader.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: Secret %s/%s not found", ErrUnusable, v.Namespace, ref.Name)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%w: Secret %s/%s may not be read by the controller", ErrUnusable, v.Namespace, ref.Name)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s/%s: %w", v.Namespace, ref.Name, err)
	}
	data, ok := sec.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key %q", ErrUnusable, v.Namespace, ref.Name, ref.Key)
	}
	return data, nil
}
