// Package registry is the plugin registry job: registering an executor
// plugin (its name checked, its binary checked and hashed, started once to
// check it speaks the protocol and to learn its name, then pinned to that
// SHA-256), listing the executors with each registered plugin's standing
// as it is on disk now (ok, missing, refused, changed since it was pinned,
// or registered under a name no longer accepted), and forgetting one.
//
// It is an application package, called by the CLI and a server alike: it
// knows no command line and no database. The registrations are kept in a
// Store it declares (store/sqlite's Plugins satisfies it, as every
// host.Registry does); starting and checking plugins is plugins/host's.
//
// Its name says the job and needs no alias beside plugins/host (running
// plugins) and plugins/sdk (what a plugin implements).
package registry
