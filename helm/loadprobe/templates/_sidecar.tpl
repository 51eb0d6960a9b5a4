{{/*
Sidecar mode: named templates to put loadprobe into your own pod spec.

Add this chart as a dependency of your chart (alias it `loadprobe` or use that name), set
`loadprobe.mode: sidecar` and `loadprobe.config` in your values, and include the templates
with the subchart's context, `.Subcharts.loadprobe`:

  spec:
    template:
      metadata:
        annotations:
          {{- include "loadprobe.sidecar.podAnnotations" .Subcharts.loadprobe | nindent 10 }}
      spec:
        initContainers:
          {{- include "loadprobe.sidecar.initContainers" .Subcharts.loadprobe | nindent 10 }}
        containers:
          - name: app
            ...
          {{- include "loadprobe.sidecar.containers" .Subcharts.loadprobe | nindent 10 }}
        volumes:
          {{- include "loadprobe.sidecar.volumes" .Subcharts.loadprobe | nindent 10 }}

initContainers gets loadprobe when it is a native sidecar (Kubernetes 1.29 or newer, or
sidecar.native: true), containers otherwise; the other one gets nothing. The subchart
renders the ConfigMap these refer to, and the PodMonitor, rules and dashboards you enable.
docs/kubernetes.md has the complete before/after example.
*/}}

{{/* The loadprobe container (one list item), with restartPolicy: Always when native. */}}
{{- define "loadprobe.sidecar" -}}
{{- include "loadprobe.container" (dict "root" . "name" .Values.sidecar.containerName "shard" "" "native" (include "loadprobe.nativeSidecar" .)) }}
{{- end }}

{{/* For your pod's initContainers: the sidecar when it is native, else nothing. */}}
{{- define "loadprobe.sidecar.initContainers" -}}
{{- if include "loadprobe.nativeSidecar" . }}
{{- include "loadprobe.sidecar" . }}
{{- end }}
{{- end }}

{{/* For your pod's containers: the sidecar when it is not native, else nothing. */}}
{{- define "loadprobe.sidecar.containers" -}}
{{- if not (include "loadprobe.nativeSidecar" .) }}
{{- include "loadprobe.sidecar" . }}
{{- end }}
{{- end }}

{{/*
For your pod's volumes: the loadprobe config (one list item), the web config and TLS
Secrets when web.config/web.existingSecret and web.tlsSecret are set, plus extraVolumes.
*/}}
{{- define "loadprobe.sidecar.volumes" -}}
{{- include "loadprobe.configVolume" . }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
For your pod template's annotations: the checksums of the config and of the web config, so
a change of either rolls it.
*/}}
{{- define "loadprobe.sidecar.podAnnotations" -}}
checksum/loadprobe-config: {{ include "loadprobe.configChecksum" . }}
{{- if include "loadprobe.webEnabled" . }}
checksum/loadprobe-web-config: {{ include "loadprobe.webConfigChecksum" . }}
{{- end }}
{{- end }}

{{/* Selector labels of the sidecar example's pods. */}}
{{- define "loadprobe.exampleSelectorLabels" -}}
{{ include "loadprobe.selectorLabels" . }}
app.kubernetes.io/component: sidecar-example
{{- end }}
