package storage

// SetMaxSinglePut lowers the size above which a known-size Put goes
// multipart, so tests can reach that path without 5 GiB bodies.
func SetMaxSinglePut(s *S3, n int64) { s.maxSinglePut = n }
