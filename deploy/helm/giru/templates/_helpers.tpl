{{/* Names. Worker pod names are Giru worker names (^[a-z0-9][a-z0-9-]{0,30}$): the base is
at most 27 characters, leaving room for "-NNN" (200 workers at most). */}}
{{- define "giru.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "giru.workerName" -}}
{{- printf "%s-worker" (include "giru.fullname" . | trunc 20 | trimSuffix "-") -}}
{{- end -}}

{{- define "giru.labels" -}}
app.kubernetes.io/name: giru
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* giru.selector: labels that pick one component's pods. Call with (list $ "worker"). */}}
{{- define "giru.selector" -}}
app.kubernetes.io/name: giru
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "giru.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "giru.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: the digest wins. */}}
{{- define "giru.imageRef" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{- define "giru.image" -}}
{{- include "giru.imageRef" (dict "repository" .Values.image.repository "digest" .Values.image.digest "tag" (default .Chart.AppVersion .Values.image.tag)) -}}
{{- end -}}

{{- define "giru.secretName" -}}
{{- default (printf "%s-secrets" (include "giru.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod and container. */}}
{{- define "giru.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "giru.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{- define "giru.topologySpread" -}}
{{- $args := . -}}
{{- $root := index . 0 -}}
{{- if $root.Values.topologySpread.enabled }}
topologySpreadConstraints:
{{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "giru.selector" $args | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "giru.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "giru.databaseHost" -}}
{{- printf "%s-postgresql" (include "giru.fullname" .) -}}
{{- end -}}

{{/* What every Giru process gets (giru.deployment.SHARED_ENV; the spool directories and the
log format come from the image's environment). */}}
{{- define "giru.env" -}}
{{- $secret := include "giru.secretName" . -}}
{{- if .Values.postgresql.enabled }}
- name: POSTGRES_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "giru.fullname" . }}-postgresql, key: password}}
- name: GIRU_DATABASE_URL
  value: postgresql+asyncpg://giru:$(POSTGRES_PASSWORD)@{{ include "giru.databaseHost" . }}:5432/giru
{{- else }}
- name: GIRU_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ required "database.existingSecret (a Secret with the PostgreSQL URL) or postgresql.enabled" .Values.database.existingSecret }}, key: {{ .Values.database.urlKey }}}}
{{- end }}
{{- if .Values.redis.enabled }}
- name: GIRU_REDIS_URL
  value: redis://{{ include "giru.fullname" . }}-redis:6379/0
{{- else if .Values.redis.url }}
- name: GIRU_REDIS_URL
  value: {{ .Values.redis.url | quote }}
{{- else }}
- name: GIRU_REDIS_URL
  valueFrom: {secretKeyRef: {name: {{ required "redis.url, redis.existingSecret or redis.enabled" .Values.redis.existingSecret }}, key: {{ .Values.redis.urlKey }}}}
{{- end }}
- name: GIRU_KEY_PEPPER
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.keyPepper }}}}
- name: GIRU_SECRETS__KEY
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.secretsKey }}}}
- name: GIRU_ADMIN_TOKEN
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.adminToken }}}}
- name: GIRU_POLICY__BUNDLE_TOKEN
  valueFrom: {secretKeyRef: {name: {{ $secret }}, key: {{ .Values.secrets.keys.bundleToken }}}}
- name: GIRU_POLICY__URL
  value: http://{{ include "giru.fullname" . }}-opa:8181
- name: GIRU_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- end -}}

{{/* giru.tracingEnv: the OTEL_* variables of a pod that traces (tracing.enabled; the control
plane's only with tracing.edge) and GIRU_OTEL__TRACE_URL. Call with (list $ "worker"). */}}
{{- define "giru.tracingEnv" -}}
{{- $root := index . 0 -}}
{{- $tracing := $root.Values.tracing -}}
{{- if and $tracing.enabled (or (eq (index . 1) "worker") $tracing.edge) }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ required "tracing.endpoint (the OTLP collector's URL) when tracing.enabled" $tracing.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $tracing.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $tracing.sampler | quote }}
{{- if $tracing.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $tracing.samplerArg | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ $tracing.serviceName | quote }}
{{- end }}
{{- with $tracing.traceUrl }}
- name: GIRU_OTEL__TRACE_URL
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "giru.maxWorkers" -}}
{{- if .Values.worker.autoscaling.enabled -}}
{{- .Values.worker.autoscaling.maxReplicas -}}
{{- else -}}
{{- .Values.worker.replicas -}}
{{- end -}}
{{- end -}}

{{/* The workers the control plane tells Envoy about: every ordinal the StatefulSet may reach,
by its stable DNS name (STRICT_DNS clusters: a name that does not resolve has no hosts). */}}
{{- define "giru.workerAddresses" -}}
{{- $name := include "giru.workerName" . -}}
{{- $domain := printf "%s-headless.%s.svc.%s" $name .Release.Namespace .Values.clusterDomain -}}
{{- $workers := list -}}
{{- $authz := list -}}
{{- range $i := until (int (include "giru.maxWorkers" .)) -}}
{{- $workers = append $workers (printf "%s-%d=%s-%d.%s:8081" $name $i $name $i $domain) -}}
{{- $authz = append $authz (printf "%s-%d.%s:9001" $name $i $domain) -}}
{{- end -}}
{{- dict "workers" $workers "authz" $authz | toJson -}}
{{- end -}}

{{/* A NetworkPolicy peer: one component's pods. Call with (list $ "envoy"). */}}
{{- define "giru.from" -}}
- podSelector:
    matchLabels: {{- include "giru.selector" . | nindent 6 }}
{{- end -}}
