{{/* Labels Helm adds to every object it renders. */}}
{{- define "safekeep.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The controller's image: repository@digest when a digest is set, else repository:tag (default: appVersion). */}}
{{- define "safekeep.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* Egress rules for networkPolicy.s3Endpoints and networkPolicy.extraEgress, as list items. */}}
{{- define "safekeep.s3Egress" -}}
{{- range .Values.networkPolicy.s3Endpoints }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
  ports:
    - port: {{ .port | default 443 }}
      protocol: TCP
{{- end }}
{{- with .Values.networkPolicy.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end }}
