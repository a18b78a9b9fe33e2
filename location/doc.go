// Package location turns the files an operator or a responder holds into
// storage configurations: an OffsiteTarget object (TARGET.yaml) for the
// offsite bucket, and a Velero BackupStorageLocation (BSL.yaml) for the
// primary one.
//
// Loading is strict: an unknown field, a wrong apiVersion or kind, or a
// missing required field is an error whose text names the file and the field.
// Conversions to storage.Config take credentials as an argument so that the
// same code serves the CLI's file mode (credentials from the standard AWS
// environment, see ConfigFromEnv helpers) and, later, a cluster (credentials
// from a Secret). Nothing here reads or prints a secret beyond handing it to
// storage.Config.
package location
