{{- define "platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: platform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* A NetworkPolicy peer for a component of this namespace or an external pod/address set. */}}
{{- define "platform.peer" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- if hasKey $root.Values.components $name }}
- podSelector:
    matchLabels:
      {{- toYaml (index $root.Values.components $name) | nindent 6 }}
{{- else if hasKey $root.Values.external $name }}
{{- $ext := index $root.Values.external $name }}
{{- if $ext.cidrs }}
{{- range $ext.cidrs }}
- ipBlock:
    cidr: {{ . }}
    {{- with $ext.except }}
    except:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
{{- else }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ $ext.namespace }}
  podSelector:
    matchLabels:
      {{- toYaml $ext.podLabels | nindent 6 }}
{{- end }}
{{- else }}
{{- fail (printf "networkPolicies: flow peer %q is neither in components nor in external" $name) }}
{{- end }}
{{- end }}

{{- define "platform.ports" -}}
{{- range . }}
- protocol: TCP
  port: {{ . }}
{{- end }}
{{- end }}
