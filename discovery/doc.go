// Package discovery probes devices and records what they report in the
// inventory: the devices a selector picks (Select), the probe fan-out (bounded concurrency, a timeout per device,
// cancellation), the one writer that stores observations in batches, a
// summary of who answered and why the others did not, and the one mapping
// from an executor's probe facts to inventory facts (Facts), which
// campaign runs use too.
//
// The mapping lives here rather than in inventory or the SDK because it
// joins the two: the domain packages know nothing of each other's types.
package discovery
