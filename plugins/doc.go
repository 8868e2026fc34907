// Package plugins is the home of Ringmaster's executors; it holds no code of
// its own. Its packages:
//
//   - plugins/sdk: what a plugin author builds against: the Executor
//     interface, typed errors, the handshake and gRPC bridge (sdk.Serve),
//     logging (sdk.Logger), the conformance kit (plugins/sdk/conformance)
//     an executor must pass, and a simulated Windows device for its tests
//     (plugins/sdk/testdevice).
//   - plugins/host: Ringmaster's side of the boundary: starting a plugin
//     binary pinned by its SHA-256, refusing files others could change and
//     binaries that do not speak the protocol.
//   - plugins/registry: the installed plugins (plugin install, list, remove).
//   - plugins/certify: a plugin binary checked through the boundary against
//     a device (plugin test); plugins/scaffold: a new plugin's module
//     (plugin new). docs/plugins.md is the author's guide.
//   - plugins/winrm: the first-party WinRM executor, and in fleetsim the
//     simulated Windows fleet every test runs against.
//   - plugins/examples: executors written as an outside author would (ssh,
//     and agent: a remote-management agent's REST API), each with a fake
//     server in front of the test device.
package plugins
