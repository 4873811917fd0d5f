{{- define "ci-kafka.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: ci-kafka
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "ci-kafka.selectorLabels" -}}
app.kubernetes.io/name: ci-kafka
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The broker's Kubernetes names, as Strimzi derives them from the Kafka resource's name. */}}
{{- define "ci-kafka.name" -}}{{ .Values.clusterName }}-kafka{{- end }}
{{- define "ci-kafka.bootstrap" -}}{{ .Values.clusterName }}-kafka-bootstrap{{- end }}

{{/* charts/kafka's resource types and pattern types -> the Admin API's (KafkaStandIn.java). */}}
{{- define "ci-kafka.patternType" -}}
{{- $type := . | default "literal" -}}
{{- if eq $type "prefix" }}prefixed{{ else }}{{ $type }}{{ end -}}
{{- end }}

{{/* Topics, users and ACLs for KafkaStandIn: one item per line (see images/ci/kafka). */}}
{{- define "ci-kafka.spec" -}}
{{- range .Values.topics }}
topic {{ .name }} {{ .partitions }} {{ $.Values.replicas }}
topic {{ .name }}{{ $.Values.dlq.suffix }} {{ $.Values.dlq.partitions }} {{ $.Values.replicas }} retention.ms={{ $.Values.dlq.retentionMs | int64 }}
{{- end }}
{{- range $name, $user := .Values.users }}
user {{ $name }}
{{- range $user.acls }}
acl {{ $name }} {{ .resource.type }} {{ include "ci-kafka.patternType" .resource.patternType }} {{ .resource.name | default "kafka-cluster" }} {{ join "," .operations }}
{{- end }}
{{- end }}
{{- end }}

{{/* The broker settings of charts/kafka's `config`, as server.properties lines. */}}
{{- define "ci-kafka.brokerProperties" -}}
{{- range $key, $value := .Values.config }}
{{ $key }}={{ if kindIs "float64" $value }}{{ $value | int64 }}{{ else }}{{ $value }}{{ end }}
{{- end }}
{{- end }}

{{/* Restricted-profile security contexts (the namespace enforces them). */}}
{{- define "ci-kafka.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- define "ci-kafka.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
