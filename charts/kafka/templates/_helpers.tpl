{{- define "kafka.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: kafka
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Kubernetes object name of a topic: topic names may hold `_` and `.`, object names may not. */}}
{{- define "kafka.topicObjectName" -}}
{{- . | replace "_" "-" | replace "." "-" | lower | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Restricted-profile security context for the Strimzi-managed pods (the namespace enforces it). */}}
{{- define "kafka.podSecurityContext" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- define "kafka.containerSecurityContext" -}}
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
