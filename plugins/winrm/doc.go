// Package winrm is Ringmaster's WinRM executor: the sdk.Executor for
// Windows devices over WS-Management, on github.com/masterzen/winrm. It
// speaks HTTP (5985) and HTTPS (5986, verified against a CA bundle or the
// system roots unless a target explicitly says otherwise), with NTLM (the
// default) or Basic logons, and sends PowerShell as -EncodedCommand.
//
// Credentials go only where the configured scheme allows. The HTTP side is
// this package's own transport (auth.go), not the library's: the library's
// NTLM transport answers a 401 that offers Basic with the password in
// clear, and its Basic transport sends the password before being asked. So
// NTLM never falls back to Basic (a server asking for anything else gets
// no credentials, and the error wraps ErrSchemeRefused, kind AuthFailed),
// and Basic is refused over plain HTTP or unverified TLS unless the target
// sets OptionAllowBasicWithoutTLS, which logs a warning once per process.
// Redirects are not followed, no proxy is used, and a response is bounded.
//
// It works around the library's known traps: DefaultParameters is a shared
// pointer (copied here), an NTLM client must not be shared across
// goroutines (every operation gets its own client and connections, closed
// when it ends), a cancelled command returns exit code 0 and an error
// (classified from the context instead), a host that reboots mid-command
// yields exit code 16001 with an EOF (classified Unreachable, so it is
// retried), and a wrong password is a 401 (classified AuthFailed). Every error it returns is an *sdk.Error, and none carries
// the password.
//
// Production estates should use HTTPS: plain HTTP with NTLM needs message
// encryption, which the library implements unsafely for concurrent use and
// without timeouts, so this executor does not use it.
package winrm
