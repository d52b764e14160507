// A stand-in for grol.io/grol, fortio's scripting language, which the Go
// module proxy that Skiff builds from does not serve (its host is not on the
// proxy's allowlist: 403 "Go module host not permitted"). It has just the API
// that fortio.org/fortio/grol compiles against; every entry point fails, so
// `fortio script` reports that scripting is not in this build. Load testing,
// the echo server, curl and gRPC ping do not use grol.
module grol.io/grol

go 1.25.0
