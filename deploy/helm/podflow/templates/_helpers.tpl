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

{{/* Where the file sink's node directory (fileSink.hostPath) is mounted: the one writable place for records. */}}
{{- define "podflow.fileSinkDir" -}}/var/log/podflow{{- end }}

{{/* The metadata file (values `metadata`), a key of the ConfigMap mounted at /etc/podflow. */}}
{{- define "podflow.metadataFile" -}}/etc/podflow/metadata.yaml{{- end }}

{{/* The agent watches the Kubernetes API (config.kubernetes.enabled): it needs the RBAC and the token. */}}
{{- define "podflow.kubernetesEnabled" -}}
{{- if dig "kubernetes" "enabled" false .Values.config }}true{{ end }}
{{- end }}

{{- define "podflow.fileSinkEnabled" -}}
{{- if has "file" .Values.config.sinks }}true{{ end }}
{{- end }}

{{/* Milliseconds of a duration as the agent writes them ("10s", "1m30s", "1.5s", "500ms"). */}}
{{- define "podflow.durationMs" -}}
{{- $ms := 0.0 }}
{{- $unitMs := dict "ms" 1.0 "s" 1000.0 "m" 60000.0 "h" 3600000.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ms|h|m|s)" . -1 }}
{{- $amount := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $ms = addf $ms (mulf (float64 $amount) (get $unitMs (trimPrefix $amount .))) }}
{{- end }}
{{- $ms }}
{{- end }}

{{/*
Bytes of a size: the agent's ("256MiB", "64KiB", "10MB", a number of bytes)
or a Kubernetes quantity ("512Mi", "1Gi", "500M"), given as (list VALUE).
*/}}
{{- define "podflow.bytes" -}}
{{- $text := toString (first .) }}
{{- $factor := dict "" 1.0 "b" 1.0 "k" 1e3 "kb" 1e3 "m" 1e6 "mb" 1e6 "g" 1e9 "gb" 1e9 "t" 1e12 "ki" 1024.0 "kib" 1024.0 "mi" 1048576.0 "mib" 1048576.0 "gi" 1073741824.0 "gib" 1073741824.0 "ti" 1099511627776.0 }}
{{- $amount := regexFind "^[0-9]+(\\.[0-9]+)?" $text }}
{{- $unit := trimPrefix $amount $text | trim | lower }}
{{- if not (hasKey $factor $unit) }}
{{- fail (printf "cannot read %q as a size" $text) }}
{{- end }}
{{- mulf (float64 $amount) (get $factor $unit) }}
{{- end }}

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
Refuses values the agent would reject at start-up, or that would make a
healthy pod fail on the node, naming the value to change.
*/}}
{{- define "podflow.checkConfig" -}}
{{- $cfg := .Values.config }}
{{- if hasKey $cfg "nodeName" }}
{{- fail "config.nodeName: leave it out; the chart sets it on every node from spec.nodeName (PODFLOW_NODE_NAME)" }}
{{- end }}
{{- if hasKey (dig "kafka" "sasl" (dict) $cfg) "password" }}
{{- fail "config.kafka.sasl.password: put the password in credentials.kafka.saslPassword (kept in a Secret), not in the ConfigMap" }}
{{- end }}
{{- if hasKey (dig "otlp" (dict) $cfg) "headers" }}
{{- fail "config.otlp.headers: put headers in credentials.otlp.headers (kept in a Secret, they often carry tokens), not in the ConfigMap" }}
{{- end }}
{{- if hasKey $cfg "metadataFile" }}
{{- fail "config.metadataFile: put the file's content under metadata; the chart mounts it at /etc/podflow/metadata.yaml (no other file of the node is visible to the agent)" }}
{{- end }}
{{- if hasKey (dig "kubernetes" (dict) $cfg) "kubeconfig" }}
{{- fail "config.kubernetes.kubeconfig: leave it out; in the cluster the agent uses its ServiceAccount, and no kubeconfig file is mounted" }}
{{- end }}
{{- if hasKey $cfg "duration" }}
{{- fail "config.duration: leave it out; an agent that stops after it is restarted by the DaemonSet" }}
{{- end }}
{{- $surge := toString (dig "rollingUpdate" "maxSurge" 0 (.Values.updateStrategy | default dict)) }}
{{- if not (has $surge (list "0" "0%" "<nil>")) }}
{{- fail (printf "updateStrategy.rollingUpdate.maxSurge: %s starts the new agent on a node while the old one runs; both bind config.metricsAddr on the node's network (hostNetwork), so the new one cannot start, never becomes ready, and the rollout stalls; use maxUnavailable instead" $surge) }}
{{- end }}
{{- $metricsHost := regexReplaceAll ":[0-9]+$" $cfg.metricsAddr "" }}
{{- if regexMatch "^(127\\.|localhost$|\\[::1\\]$|\\[::ffff:127\\.)" $metricsHost }}
{{- fail (printf "config.metricsAddr: %s listens on loopback only; the kubelet probes /healthz and /readyz at the node's address (hostNetwork), so every agent would fail its liveness probe and restart forever; use 0.0.0.0 or [::]" $cfg.metricsAddr) }}
{{- end }}
{{- $observeSocket := dig "observeSocket" "/run/podflow/observe.sock" $cfg }}
{{- if not (hasPrefix "/run/podflow/" $observeSocket) }}
{{- fail (printf "config.observeSocket: %s is on the read-only root filesystem; put it in /run/podflow/ (the chart's emptyDir)" $observeSocket) }}
{{- end }}
{{- $deadlineMs := include "podflow.durationMs" (dig "shutdownDeadline" "10s" $cfg) | float64 }}
{{- $graceMs := mulf .Values.terminationGracePeriodSeconds 1000.0 }}
{{- if gt (addf $deadlineMs 5000.0) $graceMs }}
{{- fail (printf "config.shutdownDeadline: %s, plus the 5s the agent allows itself past it, exceeds terminationGracePeriodSeconds (%v): the kubelet would kill the agent before it drained its queues; raise terminationGracePeriodSeconds or lower shutdownDeadline" (dig "shutdownDeadline" "10s" $cfg) .Values.terminationGracePeriodSeconds) }}
{{- end }}
{{- $recordBytes := include "podflow.bytes" (list (dig "memoryLimit" "256MiB" $cfg)) | float64 }}
{{- $kafkaBytes := 0.0 }}
{{- if has "kafka" $cfg.sinks }}
{{- $kafkaBytes = include "podflow.bytes" (list (dig "kafka" "bufferSize" "64MiB" $cfg)) | float64 }}
{{- end }}
{{- $limit := dig "limits" "memory" "" .Values.resources }}
{{- if and $limit (gt (addf $recordBytes $kafkaBytes 150994944.0) (include "podflow.bytes" (list $limit) | float64)) }}
{{- fail (printf "resources.limits.memory: %v is less than the agent may use: config.memoryLimit (%v) of queued records, plus kafka.bufferSize with the kafka sink (%v), plus 144Mi for the agent itself (its RSS at 100,000 flows is about 125 MB); under a sink outage the container would be OOM-killed and lose what it held. Raise the limit or lower config.memoryLimit" $limit (dig "memoryLimit" "256MiB" $cfg) (ternary (dig "kafka" "bufferSize" "64MiB" $cfg) "none" (has "kafka" $cfg.sinks))) }}
{{- end }}
{{- $filePath := dig "file" "path" "" $cfg }}
{{- $fileDir := include "podflow.fileSinkDir" . }}
{{- if and (include "podflow.fileSinkEnabled" .) $filePath (not (hasPrefix (printf "%s/" $fileDir) (clean $filePath))) }}
{{- fail (printf "config.file.path: %s is not in %s, the node directory fileSink.hostPath is mounted at; the rest of the root filesystem is read-only" $filePath $fileDir) }}
{{- end }}
{{- $keys := include "podflow.secretKeys" . | fromJsonArray }}
{{- if and (dig "kafka" "sasl" "" $cfg) (not (has "kafka-sasl-password" $keys)) }}
{{- fail "config.kafka.sasl: set credentials.kafka.saslPassword (or list kafka-sasl-password in credentials.existingSecretKeys); the agent needs the password and refuses SASL without one" }}
{{- end }}
{{- range $sink := list "kafka" "otlp" }}
{{- if ne (has (printf "%s-tls.crt" $sink) $keys) (has (printf "%s-tls.key" $sink) $keys) }}
{{- fail (printf "credentials.%s.clientCert and clientKey go together (%s-tls.crt and %s-tls.key in an existing Secret): a certificate without its key is no client authentication" $sink $sink $sink) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
podflow.yaml: config from values, checked, with the credential files, the
file sink's default path and the metadata file wired in.
*/}}
{{- define "podflow.config" -}}
{{- include "podflow.checkConfig" . }}
{{- $cfg := deepCopy .Values.config }}
{{- if include "podflow.fileSinkEnabled" . }}
{{- if not (dig "file" "path" "" $cfg) }}
{{- $_ := mergeOverwrite $cfg (dict "file" (dict "path" (printf "%s/records.log" (include "podflow.fileSinkDir" .)))) }}
{{- end }}
{{- end }}
{{- if .Values.metadata }}
{{- $_ := set $cfg "metadataFile" (include "podflow.metadataFile" .) }}
{{- end }}
{{- $keys := include "podflow.secretKeys" . | fromJsonArray }}
{{- $dir := include "podflow.secretDir" . }}
{{- range $sink := list "kafka" "otlp" }}
{{- $tls := dict }}
{{- if has (printf "%s-ca.crt" $sink) $keys }}
{{- $_ := set $tls "caFile" (printf "%s/%s-ca.crt" $dir $sink) }}
{{- end }}
{{- if has (printf "%s-tls.crt" $sink) $keys }}
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
