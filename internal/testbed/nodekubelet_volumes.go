package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// mount makes the pod's folder under HostPods and its volumes' folders:
// volume name -> host path. It returns nil while a PVC is not bound.
func (k *nodeKubelet) mount(ctx context.Context, pod *corev1.Pod) (map[string]string, error) {
	root := filepath.Join(k.n.HostPods, string(pod.UID), "volumes")
	vols := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			pv, err := k.boundPV(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
			if err != nil || pv == nil {
				return nil, err
			}
			dir, err := VolumeDir(pv)
			if err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			path := filepath.Join(root, localVolumePlugin, pv.Name)
			if pv.Spec.CSI != nil {
				path = filepath.Join(root, csiVolumePlugin, pv.Name, "mount")
			}
			if err := symlinkOnce(dir, path); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols[v.Name] = path
		case v.EmptyDir != nil:
			path := filepath.Join(root, emptyDirPlugin, v.Name)
			if err := os.MkdirAll(path, 0o755); err != nil {
				return nil, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			vols[v.Name] = path
		case v.HostPath != nil:
			vols[v.Name] = v.HostPath.Path
		}
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	return vols, nil
}

// boundPV returns the PV claim name of namespace ns is bound to, or nil
// when it is not bound yet.
func (k *nodeKubelet) boundPV(ctx context.Context, ns, name string) (*corev1.PersistentVolume, error) {
	pvc := &corev1.PersistentVolumeClaim{}
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pvc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("PVC %s: %w", name, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return nil, nil
	}
	pv := &corev1.PersistentVolume{}
	if err := k.c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return nil, fmt.Errorf("PV of PVC %s: %w", name, err)
	}
	return pv, nil
}

// symlinkOnce makes link point at target unless it already does.
func symlinkOnce(target, link string) error {
	if got, err := os.Readlink(link); err == nil {
		if got != target {
			return fmt.Errorf("%s points at %s, not %s", link, got, target)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, link)
}
