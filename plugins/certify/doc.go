// Package certify checks an executor plugin binary against the sdk
// contract as Ringmaster will use it: started by plugins/host, pinned to
// its SHA-256, spoken to over go-plugin's gRPC boundary, and put through
// every check of the conformance kit (plugins/sdk/conformance) against a
// device. It is what ringmaster plugin test runs.
//
// The device is a simulated Windows 10 machine served over WinRM in this
// process (Simulated), which suits any executor that speaks WinRM; an
// executor of another transport (SSH, an agent's API) is checked against a
// device the caller names (Named), a real one or the author's own fake in
// front of plugins/sdk/testdevice.
package certify
