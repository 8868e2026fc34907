// Package storetest is the conformance suite every storage engine of
// Ringmaster passes, in the manner of River's riverdrivertest: one exported
// function per store contract, each running subtests against fresh stores
// that the engine's own test opens through a factory. The SQLite engine
// (store/sqlite) runs every suite in its tests; the PostgreSQL engine will
// run the same ones, so that both behave alike where a caller can tell:
// errors (errors.Is against the shared vocabulary), orderings, what a failed
// write leaves (nothing), and every state change the domain's machines
// allow or refuse.
//
// The suites hold behaviour only. What is particular to one engine (SQLite's
// pragmas, a read-only filesystem, migrations of old files) stays in that
// engine's own tests.
//
// Time is the suite's: a factory gives its stores the Clock's Now, and
// tests move the clock.
package storetest
