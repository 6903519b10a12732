{{/*
Names and labels shared by every template. Object names are truncated to 63 characters (the DNS
label limit) because some Kubernetes fields are limited to that length.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "corral.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's object-name prefix: fullnameOverride, else "<release>" when the release name
already contains the chart name, else "<release>-<chart>".
*/}}
{{- define "corral.fullname" -}}
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

{{/* Name of the operator's Deployment, Service, Role and ClusterRole. */}}
{{- define "corral.operator.fullname" -}}
{{- printf "%s-operator" (include "corral.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "corral.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object the chart renders. */}}
{{- define "corral.labels" -}}
helm.sh/chart: {{ include "corral.chart" . }}
{{ include "corral.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The stable subset of the labels (selectors must never change between upgrades). */}}
{{- define "corral.selectorLabels" -}}
app.kubernetes.io/name: {{ include "corral.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector labels of the operator's objects. */}}
{{- define "corral.operator.labels" -}}
{{ include "corral.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "corral.operator.selectorLabels" -}}
{{ include "corral.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "corral.operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "corral.operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false (an existing ServiceAccount for the operator)" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The operator image reference. */}}
{{- define "corral.operator.image" -}}
{{- $image := .Values.operator.image }}
{{- printf "%s/%s:%s" $image.registry $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}

{{/* Name of the TrackerInstance created from instance.* (and of the HPA's target). */}}
{{- define "corral.instance.name" -}}
{{- default (include "corral.fullname" . | trunc 56 | trimSuffix "-") .Values.instance.name }}
{{- end }}

{{/*
A PodDisruptionBudget setting of the TrackerInstance: the one of minAvailable / maxUnavailable
that is set (the schema allows exactly one; the other is null or absent).
*/}}
{{- define "corral.instance.budget" -}}
{{- range $key := list "minAvailable" "maxUnavailable" }}
{{- $value := index $ $key }}
{{- if not (kindIs "invalid" $value) }}
{{ $key }}: {{ $value }}
{{- end }}
{{- end }}
{{- end }}
