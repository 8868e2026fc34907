// Package wsman is the WS-Management front of the simulated fleet: an
// http.Handler that speaks the Windows Remote Shell protocol as Windows'
// WinRM service does (MS-WSMV: SOAP 1.2 envelopes carrying WS-Transfer
// Create and Delete and the shell actions Command, Receive, Send and Signal),
// with the faults, HTTP statuses and quotas Windows uses, so clients are
// tested here as they would be on a real estate.
//
// What it implements, and how Windows behaves for each:
//
//   - Create (resource URI .../windows/shell/cmd) opens a shell and answers
//     with both the WS-Transfer ResourceCreated endpoint reference (the
//     ShellId selector) and the rsp:Shell description, as Windows does.
//   - Command starts a command line in a shell; Receive returns its output as
//     base64 stdout and stderr streams and, when it has finished, a
//     CommandState of Done with the ExitCode. A Receive with no output ready
//     waits up to the request's OperationTimeout and then answers with the
//     w:TimedOut fault (WSManFault code 2150858793), which clients treat as
//     "poll again". Send delivers stdin; Signal (terminate) stops a command;
//     Delete closes the shell and everything running in it.
//   - Faults are SOAP 1.2 faults with the WS-Management subcode and a
//     WSManFault detail carrying Windows' numeric code: an unknown ShellId is
//     w:InvalidSelectors (2150858843), an unknown action
//     a:ActionNotSupported (2150858753), a body that is not a well-formed
//     envelope w:SchemaValidationError (2150858817), and quota breaches
//     w:InternalError with 2150859173 (MaxShellsPerUser, default 30) or
//     2150859174 (MaxConcurrentOperationsPerUser, default 1500). Shells idle
//     for longer than IdleTimeout (default 7200 s, the WinRM default) are
//     closed, as Windows closes them.
//   - Authentication: a request without valid credentials gets HTTP 401 with
//     WWW-Authenticate headers and an empty body, before any SOAP is read.
//
// The commands themselves run on a Host (one simulated machine), which this
// package knows only through a small interface, so the device model can
// serve another transport too.
package wsman
