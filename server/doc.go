// Package server is Ringmaster's HTTP API (ringmaster serve): every job a
// user does, over the application layer (estate, campaigns, reports), for
// many organisations' teams at once.
//
// Each operation is an Op registered with handle: its route, the least
// access.Role it needs, and for a change the action the audit trail
// records. From the registered Ops the server builds its OpenAPI 3.1
// document (/openapi.json), and the tests call every one as every role
// over every kind of scope, validate every answer against the document
// (libopenapi-validator), and call the API through a client generated
// from it.
//
// A request presents an API token as a bearer token; the token's
// principal has a role and a scope. The role is checked before the
// operation runs; the scope, resolved to organisations (access.Orgs), is
// passed to the application layer's methods ending in In, which filter
// every read and bound every action, so that a record outside the scope
// is not found and an action reaching outside it is refused with the
// organisation named. Every change, made or refused, is appended to the
// audit trail with the actor, the client's address and the record before
// and after. Errors are RFC 9457 problem documents; errkind's vocabulary
// is mapped to HTTP statuses in one place (statusOf). Failed sign-ins are
// counted per client address by a Limiter, which refuses an address that
// keeps failing until its window passes.
//
// People sign in with OpenID Connect (oidc.go, EnableOIDC): the provider's
// claims give a role and a scope by ordered rules, and the session is a
// token of the store in an HttpOnly cookie, whose cross-origin changes are
// refused. A campaign's events (events.go) stream its counts and each
// transition in scope as server-sent events, resumable by Last-Event-ID.
// Reads computed over the estate are cached per scope and query for a
// short while (cache.go). /metrics serves the metrics package's
// collectors to estate-wide callers; /river/ serves River's web UI
// (Config.River, river.go) to admins of the whole estate, recording its
// changes in the audit trail.
//
// The dashboard (ui.go, ui_pages.go; templates and assets embedded from
// ui/) serves server-rendered pages under UIPath on the same
// authentication, roles and scopes: a person signs in with an API token
// (a session token of its own in the cookie) or OpenID Connect; each page
// reads through the application layer's In methods as an operation does,
// the estate's figures from the same per-scope cache (Warm keeps the whole
// estate's computed in the background), and says how old they are. Its
// buttons call the API's operations from the page's script, so every
// action is checked and audited as any client's; a campaign's counts,
// waves and buttons follow its event stream. The report's charts come from report/html.
//
// An inventory import takes its file as an Upload (the body as sent, in
// the media types the field names, failing past Config.MaxUpload) and
// bounds it to the scope inside the import's transaction. Playbooks are
// offered by name only (Config.Playbooks, a builtin.Library). The short
// lists come a page at a time as a List, by key, after a cursor.
package server
