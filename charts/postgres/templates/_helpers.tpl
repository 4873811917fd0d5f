{{- define "postgres.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: postgres
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Quoted identifier list "a", "b" of the roles matching a filter. */}}
{{- define "postgres.roleList" -}}
{{- $names := list }}
{{- range $name, $role := .roles }}
{{- if or (not $.onlyLakeWriters) $role.lakeWriter }}
{{- $names = append $names (printf "%q" $name) }}
{{- end }}
{{- end }}
{{- join ", " $names }}
{{- end }}
