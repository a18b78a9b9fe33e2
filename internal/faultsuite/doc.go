// Package faultsuite holds the storage fault suite (its tests): seals,
// verification, the read side of restores and drills, and audit writes run
// through testbed.FaultProxy in front of VersityGW, one fault kind at a
// time at a seeded rate. Each either completes correctly or fails with a
// clear retryable status, a later attempt without faults completes it,
// nothing unsealed is ever listed as restorable, and the injected counts
// per kind are printed.
package faultsuite
