#!/usr/bin/env bash
# Validates the deployment files offline, with the tools an operator uses:
#   1. renders each kustomization with kustomize and validates the result
#      with `kubeconform -strict -summary`, against schemas generated from
#      k8s.io/api (no schema download: CI reaches only the Go module proxy);
#   2. checks the systemd units with systemd-analyze verify, when present;
#   3. runs the deploy tests (compose file, Dockerfile, cross-checks).
# Needs Go only; kustomize and kubeconform are fetched through the module
# proxy at pinned versions. Run from anywhere: deploy/validate.sh
# With --tools-only it skips step 3 (for CI, whose go test ./... has run
# the deploy tests already).
set -euo pipefail
tools_only=false
case "${1:-}" in
--tools-only) tools_only=true ;;
"") ;;
*)
	echo "usage: deploy/validate.sh [--tools-only]" >&2
	exit 2
	;;
esac
cd "$(dirname "$0")/.."

KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
KUBECONFORM_VERSION=v0.8.0

export PATH="$(go env GOPATH)/bin:$PATH"
# (go install leaves the version out of `kubeconform -v`; the binary's
# build information has it.)
if ! { bin=$(command -v kubeconform) && go version -m "$bin" | grep -q "mod.*github.com/yannh/kubeconform[[:space:]]*$KUBECONFORM_VERSION"; }; then
	echo "validate: installing kubeconform $KUBECONFORM_VERSION"
	go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== kustomize build + kubeconform"
go run ./deploy/internal/schemagen "$tmp/schemas"
GOBIN="$tmp" go install "$KUSTOMIZE"
for dir in deploy/k8s/base deploy/k8s/overlays/example deploy/k8s/optional/keda; do
	"$tmp/kustomize" build "$dir" >"$tmp/$(echo "$dir" | tr / _).yaml"
done
# ScaledObject is KEDA's custom resource: no schema offline (the deploy
# tests decode it strictly instead).
kubeconform -strict -summary \
	-schema-location "$tmp/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
	-skip ScaledObject \
	"$tmp"/deploy_*.yaml deploy/k8s/secret.example.yaml

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null 2>&1; then
	# verify wants ExecStart to exist: point the units at a stub.
	printf '#!/bin/sh\n' >"$tmp/herald" && chmod +x "$tmp/herald"
	mkdir "$tmp/units"
	for f in deploy/systemd/herald-*; do
		sed "s#/usr/local/bin/herald#$tmp/herald#" "$f" >"$tmp/units/$(basename "$f")"
	done
	out=$(systemd-analyze verify "$tmp"/units/* 2>&1) || { echo "$out"; exit 1; }
	if [ -n "$out" ]; then echo "$out"; exit 1; fi
	echo "units ok"
else
	echo "systemd-analyze not installed: skipped"
fi

if ! $tools_only; then
	echo "== go test ./deploy/..."
	go test -count=1 ./deploy/...
fi
