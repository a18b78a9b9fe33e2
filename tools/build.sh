#!/usr/bin/env bash
# Builds the real parts of the test bed (TESTBED.md) into bin/, skipping what is built.
# Each tool has its own module here so the product's go.mod stays lean and the
# conflicting k8s.io pins (Kubernetes 1.37 vs Velero's 0.33) never meet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/bin}
mkdir -p "$bin"
export GOFLAGS=-mod=mod

# name module-dir package
build() {
	local name=$1 dir=$2 pkg=$3
	if [ -x "$bin/$name" ]; then return 0; fi
	echo "building $name" >&2
	(cd "$root/tools/$dir" && go build -o "$bin/$name.tmp" "$pkg") && mv "$bin/$name.tmp" "$bin/$name"
}

want=${*:-etcd kube-apiserver kubectl versitygw velero velero-plugin-for-aws controller-gen golangci-lint promtool helm kopia}
for t in $want; do
	case $t in
	etcd) build etcd etcd go.etcd.io/etcd/server/v3 ;;
	kube-apiserver) build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver ;;
	kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl ;;
	versitygw) build versitygw versitygw github.com/versity/versitygw/cmd/versitygw ;;
	velero) build velero velero . ;; # main.go: Velero with controller-runtime metrics off
	velero-plugin-for-aws) build velero-plugin-for-aws velero-plugin-aws github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws ;;
	controller-gen) build controller-gen controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen ;;
	golangci-lint) build golangci-lint golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
	promtool) build promtool promtool github.com/prometheus/prometheus/cmd/promtool ;;
	helm) build helm helm helm.sh/helm/v4/cmd/helm ;; # chart lint, template and install tests
	kopia) build kopia kopia github.com/kopia/kopia ;; # the fork Velero pins: volume benchmarks' peer, by-hand restore
	*) echo "unknown tool $t" >&2; exit 2 ;;
	esac
done
