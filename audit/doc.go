// Package audit is the trail of every change made to the estate: who made
// it, when, from where, through what (the API or the CLI), what it was,
// the organisation it touched, and the record before and after where one
// applies.
//
// The trail is append-only: Store has Append and List, nothing that
// edits or removes, and both engines refuse UPDATE and DELETE on its table
// with a trigger, so not even a bug in Ringmaster can rewrite it.
package audit
