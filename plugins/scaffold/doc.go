// Package scaffold writes the skeleton of a new executor plugin module:
// go.mod, main.go serving the executor, executor.go with every method
// stubbed to say what to write, and executor_test.go running the
// conformance kit against plugins/sdk/testdevice, which fails, check by
// check, until the executor is written. It is what ringmaster plugin new
// runs; docs/plugins.md walks an author from there to a campaign.
//
// A module built against a Ringmaster source checkout (Options.Source)
// gets a replace directive to it and a copy of its requirements and
// go.sum, so that it builds offline from the module cache that built
// Ringmaster.
package scaffold
