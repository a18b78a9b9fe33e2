// Package sample holds a small PHI-like application (a ConfigMap, a Secret,
// a Deployment, a Service and a PVC) that the demo backs up and the
// end-to-end tests use as their workload.
package sample

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names of the objects in the workload.
const (
	ConfigMapName  = "web-settings"
	SecretName     = "db-credentials"
	SecretKey      = "password"
	DeploymentName = "web"
	ServiceName    = "web"
	PVCName        = "data"
)

// PHIApp returns the namespace ns and the workload in it. secretValue goes
// into the Secret; tests use a random marker to prove it never leaves the
// cluster in plaintext.
func PHIApp(ns, secretValue string) []client.Object {
	labels := map[string]string{"app": "web"}
	replicas := int32(1)
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"data-classification": "phi"}}},
		&corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName, Namespace: ns},
			Data:       map[string]string{"LOG_LEVEL": "info", "CLINIC": "north"},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: SecretName, Namespace: ns},
			Data:       map[string][]byte{SecretKey: []byte(secretValue)},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: DeploymentName, Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name:    "web",
						Image:   "registry.example/web:1.0",
						EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: SecretName}}}},
					}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		},
		&corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: PVCName, Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				},
			},
		},
	}
}
