// Package orchestrator owns campaigns: a playbook rolled out to the devices
// a selector names, in ordered waves (rings), inside each organisation's
// maintenance windows, within concurrency caps, halting a wave whose
// failures pass its threshold.
//
// It is the domain: the campaign file (Spec, ParseSpec), maintenance
// windows and blackout dates (Calendar, on robfig/cron), how targets are
// split into waves (Assign), the state machine (machine.go: campaign
// status changes per Action, device moves per DeviceEvent, what retry
// reopens, which Reasons count as failures, where an outcome leaves a
// device), and the controller's decisions. Decide is a pure function of a
// read-only View and the time, as Nomad's scheduler computes a plan from a
// state snapshot: it says which devices to dispatch, how waves move, why
// the rest waits and when to look again.
//
// It also declares the store contract the scheduler consumes (Reader,
// Store, Enqueue), the stored types and the errors every store maps its
// database's codes to (its own ErrState and ErrStale; errkind for
// not-found and already-exists).
// Storage (store/sqlite), the River workers that apply plans and
// run playbooks (orchestrator/scheduler) and the application layer
// (campaigns) depend on this package, never the reverse.
package orchestrator
