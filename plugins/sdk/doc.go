// Package sdk is the public contract between Ringmaster and its executors:
// the Executor interface, the types that cross it (Target, Command, Result,
// Facts) and the typed errors that let callers decide what to retry. Plugin
// authors build against this package only; Ringmaster's own executors do
// too.
//
// An executor reaches devices over one transport (WinRM, OpenSSH, a vendor
// API). It must honour the context (stop promptly when it is cancelled),
// never log or return a secret, and classify every failure with a Kind:
//
//	Unreachable    the device could not be reached (refused, no route, reset)   retry later
//	TimedOut       the device did not answer in time                             retry later
//	AuthFailed     the credentials were refused                                  fix credentials
//	TLS            the certificate could not be verified                         fix trust
//	Protocol       the device answered with something the transport cannot read
//	Cancelled      the caller cancelled
//	CommandFailed  the command ran and exited non-zero (Result is still valid)
//	Internal       the executor itself failed
package sdk
