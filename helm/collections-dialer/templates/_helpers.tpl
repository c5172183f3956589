{{/*
Names, labels, Secret references and the TOML rendering the templates share.
*/}}

{{- define "cd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified prefix of every resource name (at most 45 characters, so that
     "-dialer-headless" and the StatefulSet's pod ordinals still fit in 63). */}}
{{- define "cd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "cd.labels" -}}
helm.sh/chart: {{ include "cd.chart" . }}
app.kubernetes.io/name: {{ include "cd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: collections-dialer
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "ledger"). */}}
{{- define "cd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cd.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cd.componentLabels" -}}
{{ include "cd.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cd.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secrets the pods read, the chart's own unless an existing one is named. */}}
{{- define "cd.databaseSecret" -}}
{{- default (printf "%s-database" (include "cd.fullname" .)) .Values.database.existingSecret -}}
{{- end -}}
{{- define "cd.redisSecret" -}}
{{- default (printf "%s-redis" (include "cd.fullname" .)) .Values.redis.existingSecret -}}
{{- end -}}
{{- define "cd.jwtSecret" -}}
{{- default (printf "%s-jwt" (include "cd.fullname" .)) .Values.jwt.existingSecret -}}
{{- end -}}
{{- define "cd.sipSecret" -}}
{{- default (printf "%s-sip" (include "cd.fullname" .)) .Values.sip.existingSecret -}}
{{- end -}}

{{/* How many trunk passwords dialerd is given (DIALER_SIP_PASSWORD_0..N-1). */}}
{{- define "cd.sipPasswordCount" -}}
{{- if .Values.sip.existingSecret -}}
{{- int .Values.sip.existingSecretCount -}}
{{- else -}}
{{- len .Values.sip.passwords -}}
{{- end -}}
{{- end -}}

{{/* The ledger's gRPC endpoint as the dialer reaches it. */}}
{{- define "cd.ledgerUrl" -}}
{{- default (printf "http://%s-ledger:%d" (include "cd.fullname" .) (int .Values.ledger.grpcPort)) .Values.dialer.ledgerUrl -}}
{{- end -}}

{{/* A JWT key: the value given, else the one this release's Secret already holds (so an
     upgrade keeps the keys every issued token is signed with), else 48 random characters.
     (dict "ctx" $ "given" "..." "key" "ledger-jwt-hs256-key") */}}
{{- define "cd.jwtKey" -}}
{{- $secret := lookup "v1" "Secret" .ctx.Release.Namespace (printf "%s-jwt" (include "cd.fullname" .ctx)) -}}
{{- $kept := "" -}}
{{- if $secret -}}
{{- $kept = index (default (dict) $secret.data) .key | default "" | b64dec -}}
{{- end -}}
{{- if and .given (lt (len .given) 32) -}}
{{- fail (printf "the JWT key %s must be at least 32 bytes" .key) -}}
{{- end -}}
{{- .given | default $kept | default (randAlphaNum 48) -}}
{{- end -}}

{{/* Settings that must not be in a config file: they come from Secrets (or the chart). */}}
{{- define "cd.refuseConfigKeys" -}}
{{- range .keys -}}
{{- if hasKey $.config . -}}
{{- fail (printf "%s.config.%s is set by the chart (from a Secret or its own values); remove it" $.component .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A settings map as TOML. Helm reads every number in values as a float, and toToml writes
     15 as 15.0, which dialerd refuses for its integer settings: whole numbers lose the ".0"
     (a float setting such as carrier.speed reads an integer too). Trailing blanks go. */}}
{{- define "cd.toml" -}}
{{- $toml := regexReplaceAll "(?m)(^\\s*[A-Za-z0-9_-]+\\s*=\\s*|[\\[,]\\s*)(-?[0-9]+)\\.0\\b" (toToml .) "${1}${2}" -}}
{{- regexReplaceAll "(?m)[ \\t]+$" $toml "" | trim -}}
{{- end -}}

{{/* The pod's volumes every service has: a writable /tmp on a read-only root. */}}
{{- define "cd.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}
