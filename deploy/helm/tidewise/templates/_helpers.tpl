{{/*
The labels every object of the release carries beside its own.
*/}}
{{- define "tidewise.labels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
The image of every container: no image is published yet (docs/helm.md).
*/}}
{{- define "tidewise.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Every object of one of deploy/'s kustomize files, as kustomize's `namespace:` would move it
(the bases name tidewise-system wherever they mean their own namespace: object namespaces,
ServiceAccount subjects, Service DNS names, the operator's and extender's Lease flag), with
the release's labels. Call with (list $ "files/<base>/<file>.yaml").
*/}}
{{- define "tidewise.file" -}}
{{- range $doc := include "tidewise.documents" . | fromYamlArray }}
---
{{ toYaml $doc }}
{{- end }}
{{- end }}

{{/*
The objects of a kustomize file as a YAML list (for templates that change them further).
*/}}
{{- define "tidewise.documents" -}}
{{- $root := index . 0 }}
{{- $path := index . 1 }}
{{- $text := $root.Files.Get $path }}
{{- if not $text }}
{{- fail (printf "%s is missing from the chart (files/ links to deploy/)" $path) }}
{{- end }}
{{- $docs := list }}
{{- range $part := splitList "\n---" ($text | replace "tidewise-system" $root.Release.Namespace) }}
{{- $doc := fromYaml $part }}
{{- if hasKey $doc "Error" }}
{{- fail (printf "%s: %s" $path $doc.Error) }}
{{- end }}
{{- if $doc }}
{{- $labels := merge (dict) ($doc.metadata.labels | default dict) (include "tidewise.labels" $root | fromYaml) }}
{{- $_ := set $doc.metadata "labels" $labels }}
{{- $docs = append $docs $doc }}
{{- end }}
{{- end }}
{{- toYaml $docs }}
{{- end }}

{{/*
The operator's components (deploy/operator/components/<name>) that its configuration runs,
in the order of tidewise.cli.compose.CONTROLLERS, as enabled_controllers() picks them
(tests/helm/test_chart_kustomize.py keeps the two equal).
*/}}
{{- define "tidewise.components" -}}
{{- $config := .Values.operator.config }}
{{- $engine := dig "nodes" "engine" "karpenter" $config }}
{{- $controllers := dig "controllers" dict $config }}
{{- $switches := list
    (list "karpenter" (eq $engine "karpenter"))
    (list "provisioner" (eq $engine "kwok"))
    (list "cronhpa" (dig "cronhpa" true $controllers))
    (list "elasticscaler" (dig "elasticscaler" true $controllers))
    (list "resourcerecommendation" (dig "resourcerecommendation" true $controllers))
    (list "training-queue" (dig "training_queue" false $controllers))
    (list "defrag" (dig "defrag" false $controllers))
    (list "on-demand-base" (dig "on_demand_base" "enabled" false $config))
    (list "serverless-burst" (dig "serverless_burst" false $controllers))
    (list "cost" (dig "cost" false $controllers))
    (list "colocation" (dig "colocation" "enabled" false $config)) }}
{{- $enabled := list }}
{{- range $switches }}
{{- if index . 1 }}
{{- $enabled = append $enabled (index . 0) }}
{{- end }}
{{- end }}
{{- toYaml $enabled }}
{{- end }}
