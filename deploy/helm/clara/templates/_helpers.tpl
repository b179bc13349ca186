{{- define "clara.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "clara.labels" -}}
app.kubernetes.io/part-of: clara
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "clara.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "clara.dataClaim" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "clara.fullname" .)) -}}
{{- end -}}

{{/* Environment shared by every app: config map, secret, mTLS files. */}}
{{- define "clara.envFrom" -}}
- configMapRef:
    name: {{ include "clara.fullname" . }}-config
- secretRef:
    name: {{ include "clara.fullname" . }}-secrets
{{- if .Values.database.existingSecret }}
- secretRef:
    name: {{ .Values.database.existingSecret }}
{{- end }}
{{- end -}}

{{- define "clara.volumes" -}}
- name: data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "clara.dataClaim" . }}
{{- else }}
  emptyDir: {}
{{- end }}
{{- if .Values.security.mtls.enabled }}
- name: mtls
  secret:
    secretName: {{ .Values.security.mtls.secretName }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{- define "clara.volumeMounts" -}}
- name: data
  mountPath: /data
{{- if .Values.security.mtls.enabled }}
- name: mtls
  mountPath: /etc/clara/mtls
  readOnly: true
{{- end }}
{{- end -}}
