// Package deploy holds smartmaint's deployment artefacts: the Kubernetes
// manifests (k8s/), the Prometheus configuration and alert rules, and the
// Grafana provisioning and dashboard used by ../docker-compose.yml. It has
// no code; its tests parse every artefact and check it against the code:
// settings against internal/config, commands against cmd/smartmaint,
// metric names against the Go sources, and the Dockerfile's build. See
// docs/DEPLOYMENT.md.
package deploy
