// Package scenario puts a generated estate (inventory/synth) on the
// simulated fleet: one simulated machine per generated device, the
// inventory files that point at their endpoints, the check that the fleet
// fits in the open-file limit, and the demo's scenario (its faults, its
// campaign and alert, laptops that leave the network, what the simulator
// says was upgraded). The simulate and demo commands wire flags to it and
// print; tests call it the same way.
//
// Like the simulator, only commands and tests import it. It reads no wall
// clock: times come from the caller (synth.Options.Now, the fleet's Clock).
package scenario
