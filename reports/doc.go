// Package reports is the application layer of Ringmaster's reports: what a
// user asks for (migration progress, compliance with each alert, the
// leadership scorecard, the whole-estate page, the daily history) as Go
// calls that return the built report values, for the CLI today and an HTTP
// server tomorrow.
//
// The work is split in two. Package report (the domain) owns the figures:
// builders that count cohorts of devices, the report types and their
// table, CSV and JSON forms, and report/html renders them. This package owns
// the reading: it gathers the inputs every report needs (the selector, the
// organisations, the alerts, a followed campaign's states and pace, the
// daily history, the campaigns' stored forecasts) from stores it knows only
// through the small interfaces
// declared here, feeds the builders in one pass over the devices, and hands
// back the values. It parses no flags and prints nothing.
//
// Reports only read: no report writes to the database. Updates an alert
// names are watched by the rollup from the moment the alert is stored
// (alert add); when a stored alert names one the rollup does not count (a
// database written by an earlier version), the report counts device by
// device, which is exact, instead of mending the rollup. Reports never
// forecast (a national forecast takes tens of seconds): they show the
// forecasts a node stored (campaigns.Service.RefreshForecasts), beside
// each organisation's progress and as what its at-risk rests on.
//
// The Snapshotter is the one writer: it records today's figures in the
// daily history on its own timer, hourly and when asked (the last running
// campaign stopped), with time read from an injected Clock.
package reports
