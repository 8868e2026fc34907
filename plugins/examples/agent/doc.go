// Command ringmaster-executor-agent is an example executor plugin: Windows
// devices managed by a remote-management agent that serves a small REST API
// on each device, built the way an outside author would build one, on the
// public SDK only.
//
//	go build -o ringmaster-executor-agent ./plugins/examples/agent
//	ringmaster plugin install ./ringmaster-executor-agent
//	ringmaster exec pc1.rxx.nhs.uk --executor agent -- hostname
//
// # Targets
//
//   - Address: host[:port]; empty means Hostname. The default port is 8443
//     when HTTPS is set, else 8080.
//   - HTTPS: speak HTTPS (TLS 1.2 or later) rather than plain HTTP.
//     CACertPEM replaces the system roots, TLSServerName the name verified
//     (default the host part of Address, else Hostname), and
//     InsecureSkipVerify skips verification, only where a target says so.
//   - Password: the agent's API token, sent as "Authorization: Bearer
//     <token>". It is never logged and never appears in an error. Username
//     and Auth are ignored: the agent knows only its token.
//   - ConnectTimeout (default 30 s): bounds connecting, the TLS handshake and
//     waiting for the agent's response headers; the command itself is
//     bounded by Command.Timeout only.
//   - Options["base_path"]: a path prefix the API is served under, e.g.
//     "/agent" for https://host:8443/agent/v1/commands (default none).
//
// Other options are ignored. Each call makes its own connection, closed
// when the call returns; proxies from the environment are not used.
//
// # The agent's API
//
// One endpoint runs a command and streams its output:
//
//	POST {base_path}/v1/commands
//	Authorization: Bearer <token>
//	Content-Type: application/json
//
//	{"shell": "powershell" | "cmd", "script": "...", "stdin": "<base64>", "timeout_ms": 0}
//
// stdin (standard base64, may be omitted) is written to the command's
// standard input, which is then closed. timeout_ms (0 or omitted: none) is
// how long the agent lets the command run before it stops it; the executor
// also ends the request itself at that time. A cmd script is one line.
//
// The agent answers 200 with Content-Type application/x-ndjson as soon as
// the command starts, then one JSON object per line, flushed as it is
// written:
//
//	{"stream": "stdout", "data": "..."}             output, as it is written (stdout or stderr)
//	{"exit_code": 0, "duration_ms": 1234}            last: the command exited
//	{"exit_code": -1, "duration_ms": 1000, "timed_out": true}  last: timeout_ms stopped it
//	{"error": "..."}                                 last: the agent could not run the command
//
// data is the output as UTF-8 text; the agent does not split a character
// across two events. An object of none of these shapes is skipped, so that
// an agent may add events (such as keepalives) without breaking executors.
// Closing the request (the client hanging up) stops the command.
//
// Errors before the stream are JSON {"error": "..."} with a status: 400 for
// a request the agent will not run (unknown shell, bad base64), 401 for a
// missing or wrong token (403 where a token may not run commands), 404 and
// 405 for other paths and methods, 503 when the agent is busy.
//
// # Failures
//
// The executor maps what happens to the SDK's kinds: connection refused,
// reset or broken mid-stream, and 429, 502, 503 -> Unreachable; connect,
// handshake or header timeouts, Command.Timeout and timed_out -> TimedOut;
// 401 and 403 -> AuthFailed; certificate errors and TLS alerts -> TLS;
// anything the API does not allow (another status or content type, a line
// that is not a JSON object, a stream that ends without its last event, TLS
// spoken to a plain listener) -> Protocol; the caller's cancel ->
// Cancelled; a non-zero exit_code -> CommandFailed; a 400 or an error event
// -> Internal.
//
// Package fakeagent serves this API in front of the SDK's simulated Windows
// machine (plugins/sdk/testdevice), for this plugin's tests and for anyone
// else's that needs an agent to talk to.
package main
