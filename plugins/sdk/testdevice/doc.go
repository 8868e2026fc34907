// Package testdevice is a simulated Windows 10 machine for an executor
// plugin's own tests: whatever the plugin's transport (SSH, an agent's
// REST API, a message queue), its test puts a fake server of that transport
// in front of a Device, and the server hands each command to Run. The
// device answers as Windows PowerShell 5.1 and cmd.exe do for what the
// conformance kit (plugins/sdk/conformance) and Ringmaster's playbooks ask:
// Write-Output, exit codes, an unknown cmdlet's error on stderr, a long
// Start-Sleep, the facts script (sdk.WindowsFactsScript), setup.exe and
// wusa.exe.
//
// It is the same machine the simulated fleet serves over WinRM
// (plugins/winrm/fleetsim/device); this package gives it the sdk's types,
// so that a plugin's test needs nothing else of Ringmaster.
//
//	dev := testdevice.New(testdevice.Spec{})
//	srv := startMyAgent(t, dev) // calls dev.Run for each command it receives
//	conformance.Run(t, conformance.Harness{Executor: myexec.New(), Target: ...})
package testdevice
