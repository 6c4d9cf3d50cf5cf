{{/*
Chart name, truncated to the 63 characters a label value allows.
*/}}
{{- define "tessera.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name; component names get a suffix, so keep room (52 characters).
*/}}
{{- define "tessera.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. Call with (dict "root" $ "component" "auth").
*/}}
{{- define "tessera.labels" -}}
helm.sh/chart: {{ include "tessera.chart" .root }}
{{ include "tessera.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: tessera
{{- end }}

{{/*
Selector labels. Call with (dict "root" $ "component" "auth").
*/}}
{{- define "tessera.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tessera.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/*
Image reference. Call with (dict "root" $ "image" .Values.auth.image).
*/}}
{{- define "tessera.image" -}}
{{- $repo := .image.repository }}
{{- if .image.registry }}{{ $repo = printf "%s/%s" .image.registry .image.repository }}{{ end }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "tessera.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tessera.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tessera.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "tessera.fullname" .) }}
{{- end }}

{{- define "tessera.keysSecretName" -}}
{{- .Values.signingKeys.existingSecret | default (printf "%s-signing-keys" (include "tessera.fullname" .)) }}
{{- end }}

{{- define "tessera.authServiceName" -}}
{{- printf "%s-auth" (include "tessera.fullname" .) }}
{{- end }}

{{- define "tessera.usersServiceName" -}}
{{- printf "%s-users" (include "tessera.fullname" .) }}
{{- end }}

{{/*
The JWKS URL the users service fetches: the auth Service inside the cluster.
*/}}
{{- define "tessera.jwksUrl" -}}
{{- printf "http://%s.%s.svc:%d/.well-known/jwks.json" (include "tessera.authServiceName" .) .Release.Namespace (int .Values.auth.port) }}
{{- end }}

{{/*
A value from the chart's own Secret if it exists in the cluster (so generated values
survive upgrades), else the given value, else a fresh random one.
Call with (dict "root" $ "name" secretName "key" key "value" given "length" 32).
*/}}
{{- define "tessera.persistentValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- index $existing.data .key | b64dec }}
{{- else }}
{{- randAlphaNum (.length | default 32) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tessera.postgresqlName" -}}
{{- printf "%s-postgresql" (include "tessera.fullname" .) }}
{{- end }}

{{- define "tessera.redisName" -}}
{{- printf "%s-redis" (include "tessera.fullname" .) }}
{{- end }}

{{/*
Generated values are memoised in .Values, so every template of one render sees the same.
*/}}
{{- define "tessera.postgresqlPassword" -}}
{{- if not .Values.postgresql.password }}
{{- $_ := set .Values.postgresql "password" (include "tessera.persistentValue" (dict "root" . "name" (include "tessera.postgresqlName" .) "key" "password" "value" "")) }}
{{- end }}
{{- .Values.postgresql.password }}
{{- end }}

{{- define "tessera.redisPassword" -}}
{{- if not .Values.redis.password }}
{{- $_ := set .Values.redis "password" (include "tessera.persistentValue" (dict "root" . "name" (include "tessera.redisName" .) "key" "password" "value" "")) }}
{{- end }}
{{- .Values.redis.password }}
{{- end }}

{{- define "tessera.cursorSecret" -}}
{{- if not .Values.secrets.cursorSecret }}
{{- $_ := set .Values.secrets "cursorSecret" (include "tessera.persistentValue" (dict "root" . "name" (include "tessera.fullname" .) "key" .Values.secrets.keys.cursorSecret "value" "" "length" 48)) }}
{{- end }}
{{- .Values.secrets.cursorSecret }}
{{- end }}

{{- define "tessera.factorKey" -}}
{{- if not .Values.secrets.factorKey }}
{{- $_ := set .Values.secrets "factorKey" (include "tessera.persistentValue" (dict "root" . "name" (include "tessera.fullname" .) "key" .Values.secrets.keys.factorKey "value" "" "length" 48)) }}
{{- end }}
{{- .Values.secrets.factorKey }}
{{- end }}

{{/*
The PostgreSQL URL: given, or the in-chart server's. Fails with what to set.
*/}}
{{- define "tessera.databaseUrl" -}}
{{- if .Values.secrets.databaseUrl }}
{{- .Values.secrets.databaseUrl }}
{{- else if .Values.postgresql.enabled }}
{{- printf "postgresql://%s:%s@%s:5432/%s" (.Values.postgresql.username | urlquery) (include "tessera.postgresqlPassword" . | urlquery) (include "tessera.postgresqlName" .) .Values.postgresql.database }}
{{- else }}
{{- required "set secrets.databaseUrl (postgresql://USER:PASSWORD@HOST:5432/DB), secrets.existingSecret, or postgresql.enabled=true for an evaluation cluster" .Values.secrets.databaseUrl }}
{{- end }}
{{- end }}

{{- define "tessera.redisUrl" -}}
{{- if .Values.secrets.redisUrl }}
{{- .Values.secrets.redisUrl }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://:%s@%s:6379/0" (include "tessera.redisPassword" . | urlquery) (include "tessera.redisName" .) }}
{{- else }}
{{- required "set secrets.redisUrl (redis://:PASSWORD@HOST:6379/0), secrets.existingSecret, or redis.enabled=true for an evaluation cluster" .Values.secrets.redisUrl }}
{{- end }}
{{- end }}

{{/*
Checks that cannot be expressed in values.schema.json.
*/}}
{{- define "tessera.validate" -}}
{{- if and (not .Values.signingKeys.existingSecret) (not .Values.signingKeys.keys) (not .Values.signingKeys.generate) }}
{{- fail "the auth service needs a signing key: set signingKeys.keys (make one with `tessera keys --dir DIR`), signingKeys.existingSecret, or signingKeys.generate=true" }}
{{- end }}
{{- if and .Values.signingKeys.activeKid .Values.signingKeys.keys (not (hasKey .Values.signingKeys.keys (printf "%s.pem" .Values.signingKeys.activeKid))) }}
{{- fail (printf "signingKeys.activeKid=%s has no %s.pem in signingKeys.keys" .Values.signingKeys.activeKid .Values.signingKeys.activeKid) }}
{{- end }}
{{- if and .Values.bootstrapAdmin.username (not .Values.secrets.existingSecret) (not .Values.secrets.bootstrapAdminPassword) }}
{{- fail "bootstrapAdmin.username is set: set secrets.bootstrapAdminPassword too (or put it in secrets.existingSecret)" }}
{{- end }}
{{- if and .Values.mail.smtpUsername (not .Values.secrets.existingSecret) (not .Values.secrets.smtpPassword) }}
{{- fail "mail.smtpUsername is set: set secrets.smtpPassword too (or put it in secrets.existingSecret)" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs (the Gateway to attach to)" }}
{{- end }}
{{- /* Listing the namespace's Secrets answers an empty map when helm talks to no cluster
(`helm template`, client dry-run) and a list, maybe empty, when it does; helm lists
Secrets for its own release records, so this needs no permission beyond helm's. */}}
{{- if lookup "v1" "Secret" .Release.Namespace "" }}
{{- include "tessera.validateExistingSecrets" . }}
{{- include "tessera.validateImmutable" . }}
{{- end }}
{{- end }}

{{/*
On a cluster: the Secrets named by `existingSecret` values exist and hold the keys the pods
read, so a typo fails the install or upgrade before anything is applied instead of leaving
pods waiting for a volume.
*/}}
{{- define "tessera.validateExistingSecrets" -}}
{{- $ns := .Release.Namespace }}
{{- with .Values.secrets.existingSecret }}
{{- $secret := lookup "v1" "Secret" $ns . }}
{{- if not $secret }}
{{- fail (printf "secrets.existingSecret: Secret %q does not exist in namespace %q: create it first (keys %s, %s, %s, %s)" . $ns $.Values.secrets.keys.databaseUrl $.Values.secrets.keys.redisUrl $.Values.secrets.keys.cursorSecret $.Values.secrets.keys.factorKey) }}
{{- end }}
{{- $need := list $.Values.secrets.keys.databaseUrl $.Values.secrets.keys.redisUrl $.Values.secrets.keys.cursorSecret $.Values.secrets.keys.factorKey }}
{{- if $.Values.bootstrapAdmin.username }}
{{- $need = append $need $.Values.secrets.keys.bootstrapAdminPassword }}
{{- end }}
{{- if $.Values.mail.smtpUsername }}
{{- $need = append $need $.Values.secrets.keys.smtpPassword }}
{{- end }}
{{- $data := $secret.data | default dict }}
{{- range $need }}
{{- if not (hasKey $data .) }}
{{- fail (printf "secrets.existingSecret: Secret %q in namespace %q has no key %q (name its keys in secrets.keys)" $.Values.secrets.existingSecret $ns .) }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.signingKeys.existingSecret }}
{{- $secret := lookup "v1" "Secret" $ns . }}
{{- if not $secret }}
{{- fail (printf "signingKeys.existingSecret: Secret %q does not exist in namespace %q: create it first (one <kid>.pem key per signing key)" . $ns) }}
{{- end }}
{{- $pems := list }}
{{- range $key, $_ := ($secret.data | default dict) }}
{{- if hasSuffix ".pem" $key }}
{{- $pems = append $pems $key }}
{{- end }}
{{- end }}
{{- if not $pems }}
{{- fail (printf "signingKeys.existingSecret: Secret %q in namespace %q holds no <kid>.pem key" . $ns) }}
{{- end }}
{{- with $.Values.signingKeys.activeKid }}
{{- if not (has (printf "%s.pem" .) $pems) }}
{{- fail (printf "signingKeys.activeKid=%s: Secret %q has no %s.pem" . $.Values.signingKeys.existingSecret .) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
On a cluster: an upgrade must not change what the API server cannot change in place (a
workload's selector, a StatefulSet's volume claims). Caught here, before anything is
applied; else helm would update every other object and fail on that one, half-applied.
*/}}
{{- define "tessera.validateImmutable" -}}
{{- $ns := .Release.Namespace }}
{{- $workloads := list (list "Deployment" "auth") (list "Deployment" "users") }}
{{- if .Values.postgresql.enabled }}
{{- $workloads = append $workloads (list "StatefulSet" "postgresql") }}
{{- end }}
{{- if .Values.redis.enabled }}
{{- $workloads = append $workloads (list "StatefulSet" "redis") }}
{{- end }}
{{- range $workloads }}
{{- $kind := index . 0 }}
{{- $component := index . 1 }}
{{- $name := printf "%s-%s" (include "tessera.fullname" $) $component }}
{{- $existing := lookup "apps/v1" $kind $ns $name }}
{{- if $existing }}
{{- $want := include "tessera.selectorLabels" (dict "root" $ "component" $component) | fromYaml }}
{{- $have := $existing.spec.selector.matchLabels | default dict }}
{{- if ne (toJson $have) (toJson $want) }}
{{- fail (printf "%s %s exists with selector %s; these values give %s (nameOverride changed?), and a selector is immutable: keep the old value, or uninstall and install again" $kind $name (toJson $have) (toJson $want)) }}
{{- end }}
{{- if eq $kind "StatefulSet" }}
{{- $values := index $.Values $component }}
{{- range $existing.spec.volumeClaimTemplates }}
{{- $size := .spec.resources.requests.storage }}
{{- if ne (toString $size) (toString $values.persistence.size) }}
{{- fail (printf "%s.persistence.size: StatefulSet %s has volume claims of %s, and a StatefulSet's volumeClaimTemplates are immutable: keep %s (resize the PersistentVolumeClaims themselves)" $component $name $size $size) }}
{{- end }}
{{- $class := .spec.storageClassName | default "" }}
{{- if ne $class ($values.persistence.storageClass | default "") }}
{{- fail (printf "%s.persistence.storageClass: StatefulSet %s has volume claims of class %q, and a StatefulSet's volumeClaimTemplates are immutable: keep %q" $component $name $class $class) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Security contexts, shared by every Tessera pod and container.
*/}}
{{- define "tessera.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "tessera.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/*
Environment common to both services. Call with (dict "root" $ "svc" .Values.auth "name" "auth").
Secrets arrive as files (TESSERA_*_FILE), never as plain environment values.
*/}}
{{- define "tessera.serviceEnv" -}}
- name: TESSERA_SERVICE_NAME
  value: {{ .name | quote }}
- name: TESSERA_PORT
  value: {{ .svc.port | quote }}
- name: TESSERA_WORKERS
  value: {{ .svc.workers | quote }}
- name: TESSERA_SHUTDOWN_DELAY_SECONDS
  value: {{ .svc.shutdownDelaySeconds | quote }}
- name: TESSERA_GRACEFUL_TIMEOUT_SECONDS
  value: {{ .svc.gracefulTimeoutSeconds | quote }}
- name: TESSERA_FORWARDED_ALLOW_IPS
  value: {{ join "," .root.Values.config.trustedProxies | quote }}
- name: TESSERA_DATABASE_URL_FILE
  value: /etc/tessera/secrets/database-url
- name: TESSERA_REDIS_URL_FILE
  value: /etc/tessera/secrets/redis-url
{{- if gt (int .svc.workers) 1 }}
- name: PROMETHEUS_MULTIPROC_DIR
  value: /var/run/tessera/metrics
{{- end }}
{{- range $name, $value := .svc.config }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- with .svc.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Probes on the service's own port: /healthz (no dependencies) for startup and liveness,
/readyz (dependencies; false while draining) for readiness.
*/}}
{{- define "tessera.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .probes.startup.periodSeconds }}
  failureThreshold: {{ .probes.startup.failureThreshold }}
  timeoutSeconds: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .probes.liveness.periodSeconds }}
  timeoutSeconds: {{ .probes.liveness.timeoutSeconds }}
  failureThreshold: {{ .probes.liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  periodSeconds: {{ .probes.readiness.periodSeconds }}
  timeoutSeconds: {{ .probes.readiness.timeoutSeconds }}
  failureThreshold: {{ .probes.readiness.failureThreshold }}
{{- end }}

{{/*
Spread over nodes and zones unless the user gave constraints.
Call with (dict "root" $ "svc" .Values.auth "component" "auth").
*/}}
{{- define "tessera.topologySpread" -}}
{{- if .svc.topologySpreadConstraints }}
{{- toYaml .svc.topologySpreadConstraints }}
{{- else }}
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
- maxSkew: 1
  topologyKey: {{ . }}
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "tessera.selectorLabels" (dict "root" $.root "component" $.component) | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end }}
{{- end }}

{{/*
Volumes every service pod has: a writable /tmp (the root filesystem is read-only), the
multiprocess metrics directory, and the secret files it may read.
Call with (dict "root" $ "svc" .Values.users "items" (list ...keys)).
*/}}
{{- define "tessera.commonVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if gt (int .svc.workers) 1 }}
- name: metrics
  emptyDir: {}
{{- end }}
- name: secrets
  secret:
    secretName: {{ include "tessera.secretName" .root }}
    defaultMode: 0440
    items:
      {{- range .items }}
      - key: {{ .key }}
        path: {{ .path }}
      {{- end }}
{{- end }}

{{- define "tessera.commonVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if gt (int .svc.workers) 1 }}
- name: metrics
  mountPath: /var/run/tessera/metrics
{{- end }}
- name: secrets
  mountPath: /etc/tessera/secrets
  readOnly: true
{{- end }}

{{/*
Migrations run before install and before every upgrade. With the in-chart PostgreSQL
there is no server before install, so the first run happens right after it instead.
*/}}
{{- define "tessera.migrationHooks" -}}
{{- if and .Values.postgresql.enabled (not .Values.secrets.databaseUrl) -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end }}
{{- end }}

{{/*
The chart's ServiceAccount does not exist yet at pre-install, so the Job uses the
namespace's default one (its token is not mounted) unless an existing account is named.
*/}}
{{- define "tessera.migrationServiceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
default
{{- else -}}
{{ include "tessera.serviceAccountName" . }}
{{- end }}
{{- end }}

{{/*
The public routes of API.md plus the admin console and the account page (served by users,
docs/console.md, docs/account.md), the one list both the HTTPRoute and the Ingress render.
Prefix matches are per path element (/api/v1/users matches /api/v1/users and
/api/v1/users/..., never /api/v1/usersx). /healthz, /readyz and /metrics are not here.
*/}}
{{- define "tessera.publicRoutes" -}}
- {path: /api/v1/auth, type: prefix, service: auth}
- {path: /.well-known/jwks.json, type: exact, service: auth}
- {path: /.well-known/oauth-authorization-server, type: exact, service: auth}
- {path: /api/v1/users, type: prefix, service: users}
- {path: /admin, type: prefix, service: users}
- {path: /account, type: prefix, service: users}
{{- end }}

{{/*
NetworkPolicy egress to DNS and PostgreSQL (every pod that talks to the database).
*/}}
{{- define "tessera.netpol.backendEgress" -}}
{{- $np := .Values.networkPolicy }}
# Cluster DNS.
- to:
    {{- toYaml $np.dnsTo | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
# PostgreSQL.
- {{- if .Values.postgresql.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "tessera.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  {{- else if $np.postgresqlTo }}
  to:
    {{- toYaml $np.postgresqlTo | nindent 4 }}
  {{- end }}
  ports:
    - {port: {{ $np.postgresqlPort }}, protocol: TCP}
{{- end }}

{{/*
NetworkPolicy egress to Redis.
*/}}
{{- define "tessera.netpol.redisEgress" -}}
{{- $np := .Values.networkPolicy }}
# Redis.
- {{- if .Values.redis.enabled }}
  to:
    - podSelector:
        matchLabels:
          {{- include "tessera.selectorLabels" (dict "root" . "component" "redis") | nindent 10 }}
  {{- else if $np.redisTo }}
  to:
    {{- toYaml $np.redisTo | nindent 4 }}
  {{- end }}
  ports:
    - {port: {{ $np.redisPort }}, protocol: TCP}
{{- end }}
