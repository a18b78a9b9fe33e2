package sample

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names of the objects ActiveApp adds.
const (
	StatefulSetName    = "db"
	CronJobName        = "reminders"
	JobName            = "hl7-import"
	DaemonSetName      = "log-shipper"
	PublicServiceName  = "web-public"
	PublicNodePort     = 30443
	IngressName        = "web"
	HTTPRouteName      = "web"
	HPAName            = "web"
	WebhookName        = "phi-validator.safekeep.dev"
	PublicHost         = "portal.clinic.example"
	LabelActiveAppPart = "safekeep.dev/sample"
)

// HTTPRouteCRD is a minimal Gateway API HTTPRoute CRD (no schema beyond
// "anything"): enough for the API server to store HTTPRoutes and for
// Velero to back them up.
func HTTPRouteCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "httproutes.gateway.networking.k8s.io",
			// A *.k8s.io group needs it, as Gateway API's own CRDs carry it.
			Annotations: map[string]string{"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/891"},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "gateway.networking.k8s.io",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "httproutes", Singular: "httproute", Kind: "HTTPRoute", ListKind: "HTTPRouteList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
}

// ActiveApp returns, in namespace ns, what a production PHI workload has
// that could act or be reached once restored elsewhere: a StatefulSet, a
// CronJob, a Job, a DaemonSet, a LoadBalancer Service with an explicit
// node port and local traffic policy, an Ingress and an HTTPRoute naming
// PublicHost, an HPA, and a cluster-wide validating webhook (failure
// policy Ignore, matching nothing the tests create). Install
// HTTPRouteCRD first.
func ActiveApp(ns string) []client.Object {
	labels := map[string]string{"app": "web"}
	part := map[string]string{LabelActiveAppPart: ns}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/phi-app:1.0",
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: SecretName}}}},
			}},
		},
	}
	jobPod := *pod.DeepCopy()
	jobPod.Spec.RestartPolicy = corev1.RestartPolicyNever
	jobPod.Labels = map[string]string{"app": "import"}
	dsPod := *pod.DeepCopy()
	dsPod.Labels = map[string]string{"app": "logs"}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": HTTPRouteName, "namespace": ns},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "public", "namespace": "gateways"}},
			"hostnames":  []any{PublicHost},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": PublicServiceName, "port": int64(443)}}}},
		},
	}}
	pathType := networkingv1.PathTypePrefix
	return []client.Object{
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: StatefulSetName, Namespace: ns, Labels: labels},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To[int32](3), ServiceName: ServiceName,
				Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: pod,
			},
		},
		&batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: CronJobName, Namespace: ns},
			Spec: batchv1.CronJobSpec{
				Schedule:    "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: jobPod}},
			},
		},
		&batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: JobName, Namespace: ns},
			Spec:       batchv1.JobSpec{Template: jobPod},
		},
		&appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: DaemonSetName, Namespace: ns},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: dsPod.Labels}, Template: dsPod,
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{
				Name: PublicServiceName, Namespace: ns,
				// kubectl apply's record of an explicit node port: Velero
				// keeps such a port on restore.
				Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"spec":{"type":"LoadBalancer","ports":[{"name":"https","port":443,"nodePort":30443}]}}`},
			},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, Selector: labels,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
				Ports:                 []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), NodePort: PublicNodePort}},
			},
		},
		&networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: IngressName, Namespace: ns},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: PublicHost,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &pathType,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: PublicServiceName, Port: networkingv1.ServiceBackendPort{Number: 443}}},
				}}}},
			}}},
		},
		route,
		&autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: HPAName, Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: DeploymentName},
				MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: WebhookName, Labels: part},
			Webhooks: []admissionregistrationv1.ValidatingWebhook{{
				Name: WebhookName,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{
					Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: PublicServiceName, Path: ptr.To("/validate"), Port: ptr.To[int32](443)},
				},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"safekeep.dev"}, APIVersions: []string{"v1"}, Resources: []string{"nothingatall"}},
				}},
				FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
				SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
				AdmissionReviewVersions: []string{"v1"},
			}},
		},
	}
}
