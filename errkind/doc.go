// Package errkind is Ringmaster's one error vocabulary: the kinds of
// failure that every store (SQLite today, PostgreSQL next) and every
// application package reports the same way, declared once here.
//
// A store maps its database's typed error codes onto these kinds (never
// by matching message strings) and wraps them with what was not found or
// already exists; callers decide with errors.Is:
//
//	if errors.Is(err, errkind.NotFound) { ... }
//
// The server will map each kind to one HTTP status in one place (Of finds
// the kind of an error). Typed errors that carry more (inventory's
// FieldError, SelectorError and ImportError, alerts' UnreadableError,
// orchestrator's ErrState and ErrStale) stay where they are declared; the
// validation errors among them wrap Invalid.
//
// The package imports only the standard library, so every package may use
// it.
package errkind
