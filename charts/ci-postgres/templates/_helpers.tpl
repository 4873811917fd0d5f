{{- define "ci-postgres.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: ci-postgres
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ci-postgres.selectorLabels" -}}
app.kubernetes.io/name: ci-postgres
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
