// Package access says who may do what to which organisations' devices.
//
// A Principal is a person or program the server (or the CLI) acts for: a
// subject, a Role and a Scope. Roles are ordered, each holding every right
// of those below it:
//
//	viewer    reads (inventory, campaigns, alerts, reports, history)
//	operator  runs discovery and campaigns: create, start, pause, resume,
//	          cancel, retry, remediate an alert, import inventory
//	approver  approves waves and continues what waits for a person
//	admin     tokens, credentials, plugins, the audit trail, River's UI
//
// A Scope bounds both what a principal sees and what it may change: the
// whole estate, a region (the organisations carrying a tag), or a list of
// organisations. Scopes are resolved against the organisations stored at
// the moment of the request (Resolve), giving Orgs: the set every read is
// filtered by and every action is checked against, in the application
// layer, so the CLI, the API and the dashboard cannot disagree.
//
// API tokens are Tokens: an id, a role, a scope, an expiry, and the
// SHA-256 of a 256-bit secret (never the secret: it is shown once, at
// creation). TokenStore is the contract their stores implement.
package access
