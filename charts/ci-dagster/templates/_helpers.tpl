{{- /*
Names, labels and snippets transcribed from the upstream dagster/dagster chart (1.13.27:
helm/dagster/templates/helpers/_helpers.tpl and the dagster-user-deployments subchart's), computed
for the upstream release name `.Values.upstreamRelease` instead of this release's name, so that every
object is named as the upstream chart would name it.
*/ -}}

{{- define "dagster.release" -}}{{ .Values.upstreamRelease }}{{- end }}

{{/* The upstream chart's fullname: the release name when it contains the chart name "dagster". */}}
{{- define "dagster.fullname" -}}
{{- $release := include "dagster.release" . -}}
{{- if contains "dagster" $release }}{{ $release | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-dagster" $release | trunc 63 | trimSuffix "-" }}{{ end -}}
{{- end }}

{{/* The subchart's fullname (chart "dagster-user-deployments"). */}}
{{- define "dagsterUserDeployments.fullname" -}}
{{- $release := include "dagster.release" . -}}
{{- if contains "dagster-user-deployments" $release }}{{ $release | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-dagster-user-deployments" $release | trunc 63 | trimSuffix "-" }}{{ end -}}
{{- end }}

{{- define "dagster.webserver.fullname" -}}
{{- printf "%s-%s" (include "dagster.release" .) (.Values.dagsterWebserver.nameOverride | default "webserver") | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{- define "dagster.serviceAccountName" -}}
{{- .Values.global.serviceAccountName | default .Values.serviceAccount.name | default (include "dagster.fullname" .) -}}
{{- end }}

{{- define "dagsterUserDeployments.serviceAccountName" -}}
{{- .Values.global.serviceAccountName | default (printf "%s-user-deployments" (include "dagsterUserDeployments.fullname" .)) -}}
{{- end }}

{{- define "dagster.postgresql.secretName" -}}
{{- .Values.global.postgresqlSecretName | default (printf "%s-postgresql-secret" (include "dagster.fullname" .)) -}}
{{- end }}

{{/* image repository:tag, the tag defaulting to the upstream chart's version. */}}
{{- define "dagster.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .chart.AppVersion | toString) -}}
{{- end }}

{{/* The upstream chart's labels: selector labels for its name and release, and ours on top. */}}
{{- define "dagster.selectorLabels" -}}
app.kubernetes.io/name: dagster
app.kubernetes.io/instance: {{ include "dagster.release" . }}
{{- end }}
{{- define "dagster.labels" -}}
{{ include "dagster.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: datastack
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}
{{- define "dagsterUserDeployments.selectorLabels" -}}
app.kubernetes.io/name: dagster-user-deployments
app.kubernetes.io/instance: {{ include "dagster.release" . }}
{{- end }}

{{/* Environment shared by the webserver, the daemon and the run pods (dagster.shared_env). */}}
{{- define "dagster.sharedEnv" -}}
DAGSTER_HOME: {{ .Values.global.dagsterHome | quote }}
DAGSTER_K8S_PIPELINE_RUN_NAMESPACE: {{ .Release.Namespace | quote }}
DAGSTER_K8S_PIPELINE_RUN_ENV_CONFIGMAP: {{ printf "%s-pipeline-env" (include "dagster.fullname" .) | quote }}
{{- end }}

{{/* The code location's container context (dagsterUserDeployments.k8sContainerContext): what
includeConfigInLaunchedRuns hands to every run K8sRunLauncher starts for it. */}}
{{- define "dagsterUserDeployments.k8sContainerContext" -}}
{{- $ := index . 0 }}
{{- with index . 1 }}
k8s:
  image_pull_policy: {{ .image.pullPolicy }}
  {{- if $.Values.imagePullSecrets }}
  image_pull_secrets: {{- $.Values.imagePullSecrets | toYaml | nindent 4 }}
  {{- end }}
  env_config_maps:
  - {{ include "dagsterUserDeployments.fullname" $ }}-{{ .name }}-user-env
  {{- range $envConfigMap := .envConfigMaps }}
  {{- if hasKey $envConfigMap "name" }}
  - {{ $envConfigMap.name }}
  {{- end }}
  {{- end }}
  {{- if .envSecrets }}
  env_secrets:
  {{- range $envSecret := .envSecrets }}
  {{- if hasKey $envSecret "name" }}
  - {{ $envSecret.name }}
  {{- end }}
  {{- end }}
  {{- end }}
  {{- if .volumeMounts }}
  volume_mounts: {{- .volumeMounts | toYaml | nindent 4 }}
  {{- end }}
  {{- if .volumes }}
  volumes: {{- .volumes | toYaml | nindent 4 }}
  {{- end }}
  {{- if .labels }}
  labels: {{- .labels | toYaml | nindent 4 }}
  {{- end }}
  {{- if .resources }}
  resources: {{- .resources | toYaml | nindent 4 }}
  {{- end }}
  {{- if .schedulerName }}
  scheduler_name: {{ .schedulerName }}
  {{- end }}
  namespace: {{ $.Release.Namespace }}
  service_account_name: {{ include "dagsterUserDeployments.serviceAccountName" $ }}
  {{- if and (.env) (kindIs "slice" .env) }}
  env: {{- .env | toYaml | nindent 4 }}
  {{- end }}
  {{- if or .sidecarContainers .initContainers }}
  run_k8s_config:
    pod_spec_config:
      {{- if .sidecarContainers }}
      containers: {{- toYaml .sidecarContainers | nindent 8 }}
      {{- end }}
      {{- if .initContainers }}
      init_containers: {{- toYaml .initContainers | nindent 8 }}
      {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The instance's PostgreSQL settings (dagsterYaml.postgresql.config). */}}
{{- define "dagsterYaml.postgresql.config" -}}
postgres_db:
  username: {{ .Values.postgresql.postgresqlUsername }}
  password:
    env: DAGSTER_PG_PASSWORD
  hostname: {{ .Values.postgresql.postgresqlHost | quote }}
  db_name: {{ .Values.postgresql.postgresqlDatabase }}
  port: {{ .Values.postgresql.service.port }}
  params: {{- .Values.postgresql.postgresqlParams | toYaml | nindent 4 }}
  {{- if .Values.postgresql.postgresqlScheme }}
  scheme: {{ .Values.postgresql.postgresqlScheme }}
  {{- end }}
{{- end }}
