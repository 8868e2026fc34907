// Package campaigns is the application layer of campaigns: what a person
// does with one, the same from the CLI, an HTTP server or a test. It
// creates a campaign from a file's bytes or, for an alert, from a typed
// spec; starts, pauses, resumes, cancels, approves and retries it; and
// reads what list and show print (summaries, the controller's account of
// what waits and why, a device's history). It forecasts a campaign
// (Forecast, package forecast: its controller replayed from what it has
// observed) and keeps the latest forecast of each running one in the
// store for the reports (RefreshForecasts, which a node calls on its
// timer).
//
// It owns no rules of its own: a campaign's file, waves, windows and state
// machine are orchestrator's, and every change goes to the store through
// the contract declared here (Store), which store/sqlite's Campaigns
// implements. It never starts devices: the scheduler (orchestrator/
// scheduler) picks a changed campaign up, decides, and inserts device jobs
// in the store's own transaction.
package campaigns
