// Package node runs campaigns in one process: the scheduler and its
// device workers, the notifier's deliveries, the daily snapshot and the
// campaigns' background forecasts (ForecastEvery), side by side until
// the caller's context ends or, when asked, until no campaign can go on
// without a person. `ringmaster run` is one node; the
// coming server, and several nodes sharing one database, start the same
// thing through Run.
//
// It assembles, it decides nothing: the scheduler (orchestrator/scheduler)
// decides and dispatches, notify derives events from what it applied and
// delivers them, reports renews the history, and campaigns watches the
// live campaigns and hands each round to the caller, who shows it. Run
// wires what one hands the next (the scheduler's applied plans and the
// snapshots' compliance to the notifier, a run's last probe to the
// inventory through discovery.Facts, the end of the last active campaign
// to a fresh snapshot) and stops them in an order that loses nothing: no
// more devices dispatched, the snapshot finished, the delivery loop
// stopped and what it queued sent within a bound, then the scheduler.
package node
