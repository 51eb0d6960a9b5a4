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
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.livenessProbe }}
  livenessProbe:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.readinessProbe }}
  readinessProbe:
    {{- toYaml . | nindent 4 }}
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
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* The volume of the loadprobe config, one list item. */}}
{{- define "loadprobe.configVolume" -}}
- name: loadprobe-config
  configMap:
    name: {{ include "loadprobe.configMapName" . }}
{{- end }}
