// Package dbcopy moves an estate from the embedded SQLite file to
// PostgreSQL (ringmaster db copy):
//
//	r, err := dbcopy.Copy(ctx, "ringmaster.db", "postgres://host/ringmaster", dbcopy.Options{})
//
// Everything the SQLite stores hold arrives: organisations, devices
// (declared fields, observed facts, labels and their history),
// connection profiles, credentials (the sealed bytes as they are: the
// same key file opens them; nothing is decrypted), the key's check
// value, the plugin registry, alerts and the updates they watch, the
// daily history, campaigns (spec and playbook as created, status, waves,
// every device with its state, reason, attempts, generation, lease and
// checkpoint, transitions, decisions, counts), notifications
// (subscriptions and the outbox with its deliveries), API tokens (their
// hashes: every token still works) and the audit trail. Ids and the
// trail's seqs are kept, and the target's identity sequences moved past
// them.
//
// The schemas hold the same tables and columns; the copy goes table by
// table, each streamed with COPY from one read transaction of the source
// (a consistent snapshot, opened read-only: nothing is written to it),
// all in one transaction of the target, which must be empty: a failure
// leaves it empty. Memory does not grow with the estate: one row of a
// table is held at a time.
//
// Not copied: the migration tables (the target has its own), what the
// target's triggers derive (the device rollup, compared with the
// source's instead), and River's jobs. Devices queued in a live campaign
// are handed to the first control pass as devices whose worker went
// silent (see Report.Requeued); running ones keep their leases, which
// lapse, and the same pass re-queues them from their checkpoints.
//
// Before committing, Copy compares every table's rows, the device rollup
// cohort by cohort, and the campaign counts with the devices copied;
// after, it computes the reports (progress, by site, scorecard,
// compliance, history, campaign summaries) from both databases' stores
// and compares them. A difference is an error wrapping ErrMismatch.
package dbcopy
