{{/* Name of the chart, or nameOverride. */}}
{{- define "datastack-service.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped name: the release name is the service name (producer-crypto, sink, syncer). */}}
{{- define "datastack-service.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "datastack-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "datastack-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "datastack-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "datastack-service.labels" -}}
helm.sh/chart: {{ include "datastack-service.chart" . }}
{{ include "datastack-service.selectorLabels" . }}
app.kubernetes.io/component: {{ .Values.component }}
app.kubernetes.io/part-of: datastack
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
datastack.io/component: {{ .Values.component }}
{{- end }}

{{- define "datastack-service.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The plain settings: connection settings derived from the kafka/postgres/lake blocks, then env. */}}
{{- define "datastack-service.config" -}}
METRICS_PORT: {{ .Values.metricsPort | quote }}
{{- with .Values.kafka }}
{{- if .enabled }}
KAFKA_BOOTSTRAP_SERVERS: {{ .bootstrapServers | quote }}
KAFKA_SECURITY_PROTOCOL: {{ .securityProtocol | quote }}
{{- if hasPrefix "SASL" .securityProtocol }}
KAFKA_SASL_MECHANISM: {{ .saslMechanism | quote }}
KAFKA_SASL_USERNAME: {{ required "kafka.user: the KafkaUser this service connects as" .user | quote }}
{{- end }}
{{- if .tls.caSecret }}
KAFKA_SSL_CA_LOCATION: "/etc/kafka-ca/{{ .tls.caKey }}"
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.postgres }}
{{- if .enabled }}
POSTGRES_HOST: {{ .host | quote }}
POSTGRES_PORT: {{ .port | quote }}
POSTGRES_DB: {{ .database | quote }}
POSTGRES_SSLMODE: {{ .sslmode | quote }}
{{- end }}
{{- end }}
{{- with .Values.lake }}
{{- if .enabled }}
DATA_PATH: {{ .dataPath | quote }}
DUCKLAKE_CATALOG_DB: {{ .catalogDatabase | quote }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.env }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end }}
