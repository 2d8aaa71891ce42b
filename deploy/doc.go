// Package deploy holds the files that run herald in production, and the
// tests that keep them correct: a Dockerfile, a docker compose project,
// a kustomize base and overlays for Kubernetes, and systemd units (see
// README.md in this folder for each way to run herald).
//
// There is no Go code to import here. The tests (go test ./deploy) check
// every deployment file offline, with nothing but Go and the module proxy:
// the Kubernetes manifests are rendered by kustomize and validated with
// kubeconform against schemas derived from k8s.io/api (package
// internal/k8sschema), then decoded strictly into the API's Go types; the
// compose file is loaded by the compose specification's own loader; the
// units go through systemd-analyze verify when it is installed; and across
// all of them the tests check what herald needs: known subcommands and
// settings, probes on the right paths, ports that agree, secrets as files,
// non-root and read-only everywhere. validate.sh runs the same checks with
// the kustomize and kubeconform command-line tools.
package deploy
