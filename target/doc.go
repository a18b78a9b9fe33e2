// Package target turns an OffsiteTarget into what sealing needs: a
// storage.Store rooted at <spec.s3.prefix>/safekeep/v1, the parsed age
// recipients, the signing key and the object-lock settings.
//
// Resolve reads the credentials Secret (keys AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, optionally AWS_SESSION_TOKEN, or one key "cloud" in
// AWS shared-credentials format, profile default, as Velero's own
// credentials Secret holds them) and the signing key Secret (key
// "signing.key") from the target's namespace. A target file is loaded by
// location.LoadOffsiteTarget, with credentials from the AWS environment
// (location.OffsiteConfigFromEnv), as the CLI does.
//
// Every failure is an *Error whose Reason is the OffsiteTarget Ready reason
// it maps to (api/v1alpha1 Reason* constants) and whose message says what to
// fix. Messages never hold a credential, a secret key or a signing key; they
// may name Secrets, keys, endpoints and buckets.
//
// Check probes the bucket read-only: it lists the small keys/ folder of the
// layout (the endpoint answers, the credentials are accepted, the bucket
// exists and may be listed) and, when spec.objectLock is set, reads the
// bucket's object-lock configuration. It writes nothing.
package target
