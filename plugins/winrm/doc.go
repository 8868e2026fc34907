// Package winrm is Ringmaster's WinRM executor: the sdk.Executor for
// Windows devices over WS-Management, on github.com/masterzen/winrm. It
// speaks HTTP (5985) and HTTPS (5986, verified against a CA bundle or the
// system roots unless a target explicitly says otherwise), with Basic or
// NTLM logons, and sends PowerShell as -EncodedCommand.
//
// It works around the library's known traps: DefaultParameters is a shared
// pointer (copied here), an NTLM client must not be shared across
// goroutines (every operation gets its own client and connections, closed
// when it ends), a cancelled command returns exit code 0 and an error
// (classified from the context instead), a host that reboots mid-command
// yields exit code 16001 with an EOF (classified Unreachable, so it is
// retried), and a wrong password is an untyped "401" string (classified
// AuthFailed). Every error it returns is an *sdk.Error, and none carries
// the password.
//
// Production estates should use HTTPS: plain HTTP with NTLM needs message
// encryption, which the library implements unsafely for concurrent use and
// without timeouts, so this executor does not use it.
package winrm
