// Package e2e holds Safekeep's end-to-end tests: the real Velero server on an
// envtest control plane backs up into VersityGW, and the safekeep CLI, built
// by TestMain, seals, verifies, lists and restores those backups.
//
// The tests need the test bed in bin/ (tools/build.sh) and the age CLI
// (Debian package age). They start one control plane and one Velero server
// for the whole package (TestE2E) and run each scenario on it. Tests of
// volume data (bedSpec.node) also start a testbed.Node: Velero's node-agent
// out of cluster, which needs root (skipped, saying so, without).
package e2e
