package controller

import (
	"context"
	"errors"
	"fmt"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/storage"
)

// DefaultVeleroCredentialsSecret is the Secret, in the Velero namespace,
// whose "cloud" key holds the credentials of BackupStorageLocations that
// name none (spec.credential), as `velero install` creates it.
const DefaultVeleroCredentialsSecret = "cloud-credentials"

// veleroCloudKey is the key of Velero's default credentials Secret.
const veleroCloudKey = "cloud"

// errSource: the Velero backup's storage location cannot be read from (it
// is missing, misconfigured, or its credentials are). The message says which.
var errSource = errors.New("velero backup storage location unusable")

// sourceStore opens the bucket of the Velero BackupStorageLocation named
// locationName (the default location when empty) in the Velero namespace,
// with the credentials Velero uses for it: the Secret key its
// spec.credential names, else the "cloud" key of the default credentials
// Secret, in AWS shared-credentials format (profile spec.config.profile, or
// default). Problems of the location are errors wrapping errSource; failing
// API reads are returned wrapped as they are.
func (r *BackupScheduleReconciler) sourceStore(ctx context.Context, locationName string) (storage.Store, error) {
	bsl, err := r.location(ctx, locationName)
	if err != nil {
		return nil, err
	}
	where := "BackupStorageLocation " + r.VeleroNamespace + "/" + bsl.Name
	if obs := bsl.Spec.ObjectStorage; obs != nil && obs.CACertRef != nil {
		ca, err := r.secretKey(ctx, *obs.CACertRef)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.objectStorage.caCertRef: %w", where, err)
		}
		obs.CACert, obs.CACertRef = ca, nil
	}
	if err := location.ValidateBSL(bsl); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errSource, where, err)
	}
	ref := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: r.VeleroCredentials}, Key: veleroCloudKey}
	if bsl.Spec.Credential != nil {
		ref = *bsl.Spec.Credential
	}
	data, err := r.secretKey(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s credentials: %w", where, err)
	}
	profile := bsl.Spec.Config["profile"]
	if profile == "" {
		profile = "default"
	}
	creds, err := storage.ParseSharedCredentials(data, profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s credentials, Secret %s/%s key %q: %w", errSource, where, r.VeleroNamespace, ref.Name, ref.Key, err)
	}
	st, err := storage.New(location.BSLConfig(bsl, creds))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errSource, where, err)
	}
	return storage.WithRetry(st, storage.DefaultRetryPolicy()), nil
}

// location reads the named BackupStorageLocation, or the default one.
func (r *BackupScheduleReconciler) location(ctx context.Context, name string) (*velerov1.BackupStorageLocation, error) {
	if name != "" {
		bsl := &velerov1.BackupStorageLocation{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.VeleroNamespace, Name: name}, bsl)
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: BackupStorageLocation %s/%s not found", errSource, r.VeleroNamespace, name)
		}
		if err != nil {
			return nil, fmt.Errorf("read BackupStorageLocation %s/%s: %w", r.VeleroNamespace, name, err)
		}
		return bsl, nil
	}
	var list velerov1.BackupStorageLocationList
	if err := r.APIReader.List(ctx, &list, client.InNamespace(r.VeleroNamespace)); err != nil {
		return nil, fmt.Errorf("list BackupStorageLocations in %s: %w", r.VeleroNamespace, err)
	}
	for i := range list.Items {
		if list.Items[i].Spec.Default {
			return &list.Items[i], nil
		}
	}
	return nil, fmt.Errorf("%w: the backup names no storage location and namespace %s has no default BackupStorageLocation", errSource, r.VeleroNamespace)
}

// secretKey reads one key of a Secret in the Velero namespace.
func (r *BackupScheduleReconciler) secretKey(ctx context.Context, ref corev1.SecretKeySelector) ([]byte, error) {
	sec := &corev1.Secret{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.VeleroNamespace, Name: ref.Name}, sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("%w: Secret %s/%s not found", errSource, r.VeleroNamespace, ref.Name)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("%w: Secret %s/%s may not be read by the controller", errSource, r.VeleroNamespace, ref.Name)
	case err != nil:
		return nil, fmt.Errorf("read Secret %s/%s: %w", r.VeleroNamespace, ref.Name, err)
	}
	data, ok := sec.Data[ref.Key]
	if !ok {
		return nil, fmt.Errorf("%w: Secret %s/%s has no key %q", errSource, r.VeleroNamespace, ref.Name, ref.Key)
	}
	return data, nil
}
