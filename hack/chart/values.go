package main

import (
	"fmt"
	"os"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// prometheusRule turns deploy/prometheus/prometheusrule.yaml into a
// template: rendered when enabled and the Prometheus Operator's CRD is
// installed, in the release namespace, with extra labels for the
// Prometheus's ruleSelector. The rules' own {{ $labels... }} are escaped.
func prometheusRule(src []byte) string {
	text := string(src)
	var body []string
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "#") {
			continue // the file's how-to-apply comment
		}
		body = append(body, line)
	}
	text = strings.Join(body, "")
	text = strings.ReplaceAll(text, "{{", "\x00L")
	text = strings.ReplaceAll(text, "}}", "\x00R")
	text = strings.ReplaceAll(text, "\x00L", `{{ "{{" }}`)
	text = strings.ReplaceAll(text, "\x00R", `{{ "}}" }}`)
	text = strings.Replace(text, "  namespace: "+controllerNamespace+"\n", "  namespace: {{ .Release.Namespace }}\n", 1)
	text = strings.Replace(text, "  labels:\n", "  labels:\n    {{- include \"safekeep.labels\" . | nindent 4 }}\n    {{- with .Values.metrics.prometheusRule.labels }}\n    {{- toYaml . | nindent 4 }}\n    {{- end }}\n", 1)
	return "{{- if and .Values.metrics.prometheusRule.enabled (.Capabilities.APIVersions.Has \"monitoring.coreos.com/v1/PrometheusRule\") }}\n" +
		text + "{{- end }}\n"
}

// toYAML renders v as YAML indented by n spaces after the first line.
func toYAML(v any, n int) (string, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	if !strings.Contains(s, "\n") && (s == "{}" || s == "[]" || !strings.Contains(s, ":")) {
		return " " + s, nil // a flow value or scalar stays on the key's line
	}
	return "\n" + indent(s, n), nil
}

func indent(s string, n int) string {
	p := strings.Repeat(" ", n)
	return p + strings.ReplaceAll(s, "\n", "\n"+p)
}

func writeValues(path string, d defaults) error {
	t := template.Must(template.New("values").Funcs(template.FuncMap{"y": toYAML}).Parse(valuesTemplate))
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return fmt.Errorf("values.yaml: %w", err)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func writeChart(path, appVersion string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf(chartTemplate, strings.TrimPrefix(appVersion, "v"), appVersion)), 0o644)
}

const chartTemplate = generatedHeader + `apiVersion: v2
name: safekeep
description: Encrypted, immutable offsite copies of Velero backups, restore drills and a signed audit log.
type: application
version: %s
appVersion: %q
home: https://github.com/safekeep-dev/safekeep
sources:
  - https://github.com/safekeep-dev/safekeep
keywords: [velero, backup, encryption, object-lock, disaster-recovery]
`

// valuesTemplate is values.yaml; its defaults come from deploy/.
const valuesTemplate = generatedHeader + `# Defaults render what ` + "`kubectl kustomize deploy`" + ` does (docs/install.md).

image:
  repository: ghcr.io/safekeep-dev/safekeep-controller
  # tag defaults to the chart's appVersion ({{ .Tag }}).
  tag: ""
  # digest (sha256:...) pins the image; it wins over tag.
  digest: ""
  # pullPolicy is left to Kubernetes when empty (IfNotPresent for a tag).
  pullPolicy: ""
imagePullSecrets: []

# Two replicas: leader election lets one reconcile at a time.
replicaCount: {{ .Replicas }}

# The controller's namespace is the release namespace. namespace.create
# makes the chart create it with these labels (PodSecurity restricted);
# leave it off when the namespace exists or with helm --create-namespace
# (then label it yourself).
namespace:
  create: false
  labels:{{ y .NamespaceLabels 4 }}

velero:
  # Namespace of Velero's objects (Backups, BackupStorageLocations).
  namespace: velero

# This cluster's name in the seals it writes (--cluster-id); set it when
# several clusters seal into one bucket.
clusterID: ""

# Image of the Job that reads restored volumes in Level 2 drills
# (--volume-reader-image; safekeep-controller volume-digests). Empty: the
# controller's own image, as above. Set it only to a copy of that image
# (a mirror, another digest of the same release).
volumeReaderImage: ""

resources:{{ y .Resources 2 }}

podSecurityContext:{{ y .PodSecurity 2 }}

containerSecurityContext:{{ y .ContainerSecurity 2 }}

nodeSelector:{{ y .NodeSelector 2 }}
tolerations:{{ y .Tolerations 2 }}
# Set a default map to null to remove it (Helm merges maps).
affinity:{{ y .Affinity 2 }}
priorityClassName: ""
podAnnotations: {}
podLabels: {}

# More flags for safekeep-controller (see safekeep-controller --help), and
# environment variables.
extraArgs: []
extraEnv: []

podDisruptionBudget:
  enabled: true
  minAvailable: {{ .MinAvailable }}

metrics:
  service:
    enabled: true
  # Rendered only when the Prometheus Operator's CRDs are installed.
  serviceMonitor:
    enabled: true
    interval: 30s
    labels: {}
  prometheusRule:
    enabled: true
    labels: {}

# Egress to DNS, and to ports 443 and 6443 (the API server and HTTPS S3
# endpoints). s3Endpoints adds rules for S3 endpoints elsewhere, such as
# {cidr: 10.0.0.5/32, port: 9000}; extraEgress adds raw egress rules.
networkPolicy:
  enabled: true
  s3Endpoints: []
  extraEgress: []

# CustomResourceDefinitions. keep leaves them (and every OffsiteTarget,
# BackupSchedule and RestoreDrill) in place on helm uninstall: they hold
# the backup configuration.
crds:
  enabled: true
  keep: true

# A ConfigMap holding the Grafana dashboard, labelled for Grafana's
# dashboard sidecar.
grafanaDashboard:
  enabled: false
  labels:
    grafana_dashboard: "1"
  annotations: {}

# More objects to deploy with the release (templated).
extraObjects: []
`
