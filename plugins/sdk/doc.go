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
//
// Serve runs an executor as a plugin; Logger is its log, read by the host;
// ProbeWindows is Probe for any executor whose Exec runs PowerShell, with
// WindowsFactsScript and ParseWindowsFacts. Facts grow only additively
// within ProtocolVersion (Serial came that way): an older plugin leaves a
// new field empty, which Ringmaster reads as not observed. The test device
// (sdk/testdevice) and the conformance kit (sdk/conformance) are for an
// executor's own tests; docs/plugins.md is the author's guide.
package sdk
