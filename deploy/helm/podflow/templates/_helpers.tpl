{{/* The chart's name, at most 63 characters (a DNS label). */}}
{{- define "podflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: objects are named after it. */}}
{{- define "podflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "podflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "podflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "podflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "podflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "podflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "podflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "podflow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The port of config.metricsAddr (HOST:PORT or [V6]:PORT). */}}
{{- define "podflow.metricsPort" -}}
{{- splitList ":" .Values.config.metricsAddr | last | int }}
{{- end }}

{{- define "podflow.secretName" -}}
{{- default (printf "%s-credentials" (include "podflow.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{- define "podflow.secretDir" -}}/var/run/secrets/podflow{{- end }}

{{/*
The credential keys present in the Secret, as a JSON list: the ones listed in
existingSecretKeys, or the ones with a value when the chart makes the Secret.
*/}}
{{- define "podflow.secretKeys" -}}
{{- $c := .Values.credentials }}
{{- if $c.existingSecret }}
{{- toJson $c.existingSecretKeys }}
{{- else }}
{{- $keys := list }}
{{- if $c.kafka.saslPassword }}{{ $keys = append $keys "kafka-sasl-password" }}{{ end }}
{{- if $c.kafka.caCert }}{{ $keys = append $keys "kafka-ca.crt" }}{{ end }}
{{- if $c.kafka.clientCert }}{{ $keys = append $keys "kafka-tls.crt" }}{{ end }}
{{- if $c.kafka.clientKey }}{{ $keys = append $keys "kafka-tls.key" }}{{ end }}
{{- if $c.otlp.headers }}{{ $keys = append $keys "otlp-headers" }}{{ end }}
{{- if $c.otlp.caCert }}{{ $keys = append $keys "otlp-ca.crt" }}{{ end }}
{{- if $c.otlp.clientCert }}{{ $keys = append $keys "otlp-tls.crt" }}{{ end }}
{{- if $c.otlp.clientKey }}{{ $keys = append $keys "otlp-tls.key" }}{{ end }}
{{- toJson $keys }}
{{- end }}
{{- end }}

{{/*
podflow.yaml: config from values, with the credential files wired in. The
client certificate and key go in together, as the agent requires.
*/}}
{{- define "podflow.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- if hasKey $cfg "nodeName" }}
{{- fail "config.nodeName: leave it out; the chart sets it on every node from spec.nodeName (PODFLOW_NODE_NAME)" }}
{{- end }}
{{- if hasKey (dig "kafka" "sasl" (dict) $cfg) "password" }}
{{- fail "config.kafka.sasl.password: put the password in credentials.kafka.saslPassword (kept in a Secret), not in the ConfigMap" }}
{{- end }}
{{- if hasKey (dig "otlp" (dict) $cfg) "headers" }}
{{- fail "config.otlp.headers: put headers in credentials.otlp.headers (kept in a Secret, they often carry tokens), not in the ConfigMap" }}
{{- end }}
{{- $keys := include "podflow.secretKeys" . | fromJsonArray }}
{{- $dir := include "podflow.secretDir" . }}
{{- range $sink := list "kafka" "otlp" }}
{{- $tls := dict }}
{{- if has (printf "%s-ca.crt" $sink) $keys }}
{{- $_ := set $tls "caFile" (printf "%s/%s-ca.crt" $dir $sink) }}
{{- end }}
{{- if and (has (printf "%s-tls.crt" $sink) $keys) (has (printf "%s-tls.key" $sink) $keys) }}
{{- $_ := set $tls "certFile" (printf "%s/%s-tls.crt" $dir $sink) }}
{{- $_ := set $tls "keyFile" (printf "%s/%s-tls.key" $dir $sink) }}
{{- end }}
{{- if $tls }}
{{- $_ := set $tls "enabled" true }}
{{- $_ := mergeOverwrite $cfg (dict $sink (dict "tls" $tls)) }}
{{- end }}
{{- end }}
{{- if has "kafka-sasl-password" $keys }}
{{- $_ := mergeOverwrite $cfg (dict "kafka" (dict "sasl" (dict "passwordFile" (printf "%s/kafka-sasl-password" $dir)))) }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}
