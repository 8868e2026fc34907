// Package fleetsim runs a simulated Windows estate for tests, the demo and
// `ringmaster simulate`: one WinRM endpoint per device, each on its own
// loopback address (127.x.y.z) and the standard ports (5985 HTTP, and 5986
// HTTPS with certificates from the simulator's own CA), speaking the real
// WS-Management protocol (package wsman) over a device model (package
// device), with faults seeded deterministically and the ground truth of
// what happened on each device readable at any time.
//
// Only the simulate and demo commands and tests import this package; the
// product's own code paths never do.
package fleetsim
