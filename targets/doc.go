// Package targets turns an inventory device into an executor target: how to
// reach it (address, HTTPS, CA bundle, authentication scheme, executor
// options) and the credential it logs on with, its own else its
// organisation's, unsealed with the key file's key.
//
// It is the one place these rules live, so that the CLI, the server and
// tests resolve devices the same way. A caller fills Options (the CLI from
// its flags), gives New what it consumes through the small interfaces
// declared here (Organisations, Credentials, Keyring, Plugins), and asks a
// Resolver for each device's Target.
//
// The security rules it keeps (docs/security.md):
//   - Basic authentication is refused where the password would cross the
//     network readable (plain HTTP, or TLS whose certificate is not
//     verified) unless Options.AllowBasicWithoutTLS, and Options.CheckAuth
//     then returns a warning for the caller to show.
//   - A Resolver never creates a key: it loads the key file, refuses one
//     whose check value differs from the one stored with the credentials,
//     and records the check value of a database from before check values
//     once the key opens one of its credentials.
//   - Files it reads (the CA bundle, "@FILE" option values) are read
//     through internal/inputfile's limit.
package targets
