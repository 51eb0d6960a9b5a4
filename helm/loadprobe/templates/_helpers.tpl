{{/*
Names, labels and the loadprobe container, shared by every template. Each helper takes the
chart's root context (or, from a parent chart, `.Subcharts.loadprobe`).
*/}}

{{- define "loadprobe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loadprobe.fullname" -}}
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

{{- define "loadprobe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loadprobe.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "loadprobe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadprobe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "loadprobe.labels" -}}
helm.sh/chart: {{ include "loadprobe.chart" . }}
{{ include "loadprobe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: loadprobe
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The `release` label that kube-prometheus-stack's monitor and rule selectors want
(values: releaseLabel). Emits nothing when releaseLabel is false or empty.
*/}}
{{- define "loadprobe.releaseLabel" -}}
{{- if kindIs "bool" .Values.releaseLabel -}}
{{- if .Values.releaseLabel -}}
release: {{ .Release.Name }}
{{- end -}}
{{- else if .Values.releaseLabel -}}
release: {{ .Values.releaseLabel | quote }}
{{- end -}}
{{- end }}

{{- define "loadprobe.image" -}}
{{- $image := .Values.image }}
{{- $registry := ternary "" (printf "%s/" $image.registry) (empty $image.registry) }}
{{- if $image.digest }}
{{- printf "%s%s@%s" $registry $image.repository $image.digest }}
{{- else }}
{{- printf "%s%s:%s" $registry $image.repository (default .Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{- define "loadprobe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "loadprobe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding loadprobe.yml; its name and its checksum (rolls the pods). */}}
{{- define "loadprobe.configMapName" -}}
{{- include "loadprobe.fullname" . }}
{{- end }}

{{/*
The text of loadprobe.yml: values.config, or when it is empty the demo config
(files/loadprobe.yml, a symlink to the repository's config/loadprobe.yml).
*/}}
{{- define "loadprobe.configText" -}}
{{- if .Values.config }}
{{- toYaml .Values.config }}
{{- else }}
{{- $demo := .Files.Get "files/loadprobe.yml" }}
{{- if not $demo }}
{{- fail "config is empty and files/loadprobe.yml (the demo config) is missing from the chart" }}
{{- end }}
{{- $demo }}
{{- end }}
{{- end }}

{{- define "loadprobe.configChecksum" -}}
{{- include "loadprobe.configText" . | sha256sum }}
{{- end }}

{{/*
Whether the sidecar is a native one (initContainers + restartPolicy: Always): "true" or "".
sidecar.native: auto follows the cluster version (native sidecars are on by default from
Kubernetes 1.29), true/false force it.
*/}}
{{- define "loadprobe.nativeSidecar" -}}
{{- $native := .Values.sidecar.native }}
{{- if kindIs "bool" $native }}
{{- ternary "true" "" $native }}
{{- else if semverCompare ">=1.29-0" .Capabilities.KubeVersion.Version }}
{{- "true" }}
{{- end }}
{{- end }}

{{/*
The shard flag of a standalone pod: StatefulSet pods with replicas > 1 each take
--shard=ordinal/<replicas> (the ordinal is the -<n> suffix of the pod's hostname).
Deployment pods have no ordinal, so they get no flag and each sends the full rate.
*/}}
{{- define "loadprobe.shardArg" -}}
{{- if and (eq .Values.mode "standalone") (eq .Values.kind "StatefulSet") (gt (int .Values.replicas) 1) }}
{{- printf "--shard=ordinal/%d" (int .Values.replicas) }}
{{- end }}
{{- end }}

{{/*
The loadprobe container, one list item. Called with a dict:
  root: the chart context; name: the container name; shard: a --shard flag or "";
  native: "true" for a native sidecar.
*/}}
{{- define "loadprobe.container" -}}
{{- $root := .root }}
{{- $v := $root.Values -}}
- name: {{ .name }}
  image: {{ include "loadprobe.image" $root | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args:
    - --config.file=/etc/loadprobe/loadprobe.yml
    - --web.listen-address=:{{ $v.port }}
    - --web.telemetry-path={{ $v.telemetryPath }}
    - --log.level={{ $v.logLevel }}
    - --log.format={{ $v.logFormat }}
    {{- with .shard }}
    - {{ . }}
    {{- end }}
    {{- if include "loadprobe.webEnabled" $root }}
    - --web.config.file={{ include "loadprobe.webConfigPath" $root }}
    {{- end }}
    {{- if $v.web.enableLifecycle }}
    - --web.enable-lifecycle
    {{- end }}
    {{- if $v.web.enableRun }}
    - --web.enable-run
    {{- end }}
    {{- range $v.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  {{- with $v.extraEnv }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.extraEnvFrom }}
  envFrom:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: http-loadprobe
      containerPort: {{ $v.port }}
      protocol: TCP
  {{- with $v.startupProbe }}
  startupProbe:
    {{- include "loadprobe.probe" (dict "root" $root "probe" .) | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- include "loadprobe.probe" (dict "root" $root "probe" .) | nindent 4 }}
  {{- end }}
  {{- with $v.readinessProbe }}
  readinessProbe:
    {{- include "loadprobe.probe" (dict "root" $root "probe" .) | nindent 4 }}
  {{- end }}
  {{- with $v.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - name: loadprobe-config
      mountPath: /etc/loadprobe
      readOnly: true
    {{- if include "loadprobe.webEnabled" $root }}
    - name: loadprobe-web-config
      mountPath: /etc/loadprobe/web
      readOnly: true
    {{- end }}
    {{- if $v.web.tlsSecret }}
    - name: loadprobe-tls
      mountPath: /etc/loadprobe/tls
      readOnly: true
    {{- end }}
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
The volume of the loadprobe config, one list item, followed by those of the web config
Secret and the TLS Secret when they are set. The Secrets are mounted inside the config's
mount (/etc/loadprobe/web, /etc/loadprobe/tls): the kubelet creates the mount points of
volumes nested in a ConfigMap volume.
*/}}
{{- define "loadprobe.configVolume" -}}
- name: loadprobe-config
  configMap:
    name: {{ include "loadprobe.configMapName" . }}
{{- if include "loadprobe.webEnabled" . }}
- name: loadprobe-web-config
  secret:
    secretName: {{ include "loadprobe.webSecretName" . }}
    items:
      - key: {{ include "loadprobe.webSecretKey" . }}
        path: web-config.yml
{{- end }}
{{- with .Values.web.tlsSecret }}
- name: loadprobe-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{/*
--- Securing the endpoints (values: web) -----------------------------------------------
The web config file (--web.config.file) comes from web.config, rendered into the Secret
<fullname>-web, or from web.existingSecret. It is mounted at /etc/loadprobe/web and the TLS
Secret (web.tlsSecret) at /etc/loadprobe/tls.
*/}}
{{- define "loadprobe.webConfigPath" -}}
/etc/loadprobe/web/web-config.yml
{{- end }}

{{/* "true" when a web config file is passed (web.config or web.existingSecret), else "". */}}
{{- define "loadprobe.webEnabled" -}}
{{- if and .Values.web.config .Values.web.existingSecret }}
{{- fail "web.config and web.existingSecret are both set: use one of them" }}
{{- end }}
{{- if or .Values.web.config .Values.web.existingSecret }}
{{- "true" }}
{{- end }}
{{- end }}

{{- define "loadprobe.webSecretName" -}}
{{- default (printf "%s-web" (include "loadprobe.fullname" .)) .Values.web.existingSecret }}
{{- end }}

{{- define "loadprobe.webSecretKey" -}}
{{- if .Values.web.existingSecret }}
{{- default "web-config.yml" .Values.web.existingSecretKey }}
{{- else }}
{{- "web-config.yml" }}
{{- end }}
{{- end }}

{{/* The text of web-config.yml rendered from web.config. */}}
{{- define "loadprobe.webConfigText" -}}
{{- toYaml .Values.web.config }}
{{- end }}

{{/*
The checksum that rolls the pods when the web config changes: of web.config's text, or of
the existing Secret's name and key (the chart cannot see its content).
*/}}
{{- define "loadprobe.webConfigChecksum" -}}
{{- if .Values.web.config }}
{{- include "loadprobe.webConfigText" . | sha256sum }}
{{- else }}
{{- printf "%s/%s" .Values.web.existingSecret (include "loadprobe.webSecretKey" .) | sha256sum }}
{{- end }}
{{- end }}

{{/*
Whether loadprobe serves HTTPS / asks for basic auth: "true" or "". web.tls and
web.basicAuth are true, false or auto; auto looks at web.config (tls_server_config.cert_file,
basic_auth_users) and means false with web.existingSecret, whose content the chart cannot see.
*/}}
{{- define "loadprobe.webTLS" -}}
{{- $tls := .Values.web.tls }}
{{- if kindIs "bool" $tls }}
{{- ternary "true" "" $tls }}
{{- else if and (include "loadprobe.webEnabled" .) (dig "tls_server_config" "cert_file" "" .Values.web.config) }}
{{- "true" }}
{{- end }}
{{- end }}

{{- define "loadprobe.webBasicAuth" -}}
{{- $auth := .Values.web.basicAuth }}
{{- if kindIs "bool" $auth }}
{{- ternary "true" "" $auth }}
{{- else if and (include "loadprobe.webEnabled" .) (dig "basic_auth_users" (dict) .Values.web.config) }}
{{- "true" }}
{{- end }}
{{- end }}

{{/*
A liveness, readiness or startup probe adapted to the web config. Called with a dict:
root: the chart context; probe: the probe from values. An httpGet probe gets scheme: HTTPS
when loadprobe serves TLS (unless it sets a scheme). With basic auth it gets the
Authorization header web.probeAuthorization when that is set; otherwise it becomes a
tcpSocket probe on the same port, as every HTTP request without credentials gets a 401.
Other probes (tcpSocket, exec, grpc) are used as they are.
*/}}
{{- define "loadprobe.probe" -}}
{{- $root := .root }}
{{- $probe := deepCopy .probe }}
{{- if $probe.httpGet }}
{{- $get := $probe.httpGet }}
{{- if and (include "loadprobe.webBasicAuth" $root) (not $root.Values.web.probeAuthorization) }}
{{- $_ := unset $probe "httpGet" }}
{{- $_ := set $probe "tcpSocket" (dict "port" $get.port) }}
{{- else }}
{{- if and (include "loadprobe.webTLS" $root) (not (hasKey $get "scheme")) }}
{{- $_ := set $get "scheme" "HTTPS" }}
{{- end }}
{{- if and (include "loadprobe.webBasicAuth" $root) $root.Values.web.probeAuthorization }}
{{- $headers := concat (list (dict "name" "Authorization" "value" $root.Values.web.probeAuthorization)) (default (list) $get.httpHeaders) }}
{{- $_ := set $get "httpHeaders" $headers }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* The monitor endpoint's scheme: the value set, or https when loadprobe serves TLS. */}}
{{- define "loadprobe.monitorScheme" -}}
{{- $scheme := .monitor.scheme }}
{{- if $scheme }}
{{- $scheme }}
{{- else if include "loadprobe.webTLS" .root }}
{{- "https" }}
{{- end }}
{{- end }}
