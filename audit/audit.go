package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Outcomes of a change.
const (
	Done    = "done"    // it was made
	Refused = "refused" // access control refused it
	Failed  = "failed"  // it was tried and failed (bad input, a conflict)
)

// Entry is one change, as the trail keeps it.
type Entry struct {
	// Seq orders the trail; the store gives it on Append.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Actor is who: a token's subject, a signed-in person, the CLI's
	// user@host; Via how (access.ViaToken, ViaOIDC, ViaCLI), TokenID the
	// token used when one was.
	Actor   string `json:"actor"`
	Via     string `json:"via"`
	TokenID string `json:"token_id,omitempty"`
	// From is where: the client's address for the API, the host for the
	// CLI.
	From string `json:"from"`
	// Action names the change ("campaign.pause", "token.create").
	Action string `json:"action"`
	// Target is what it was made to (a campaign's name, a token's id).
	Target string `json:"target"`
	// Org is the organisation the change was bounded to ("" for the
	// estate).
	Org     string `json:"org,omitempty"`
	Outcome string `json:"outcome"`
	// Detail is the error of a refused or failed change, or a summary.
	Detail string `json:"detail,omitempty"`
	// Before and After are the record before and after the change,
	// where one applies (JSON).
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Limits of an entry's fields, past which Validate refuses it.
const (
	MaxText   = 1024     // each text field
	MaxRecord = 64 << 10 // Before and After each
)

// Validate checks what Append requires: an actor, an action, an outcome,
// a time, fields within their limits, text that is UTF-8 without NUL
// (what every engine can keep as it is) and JSON records.
func (e *Entry) Validate() error {
	switch {
	case e.At.IsZero():
		return fmt.Errorf("audit entry: no time: %w", errkind.Invalid)
	case strings.TrimSpace(e.Actor) == "":
		return fmt.Errorf("audit entry: no actor: %w", errkind.Invalid)
	case strings.TrimSpace(e.Action) == "":
		return fmt.Errorf("audit entry: no action: %w", errkind.Invalid)
	case e.Outcome != Done && e.Outcome != Refused && e.Outcome != Failed:
		return fmt.Errorf("audit entry: outcome %q: want done, refused or failed: %w", e.Outcome, errkind.Invalid)
	}
	for name, v := range map[string]string{"actor": e.Actor, "via": e.Via, "token_id": e.TokenID, "from": e.From, "action": e.Action, "target": e.Target, "org": e.Org, "detail": e.Detail} {
		if len(v) > MaxText {
			return fmt.Errorf("audit entry: %s is %d bytes, over %d: %w", name, len(v), MaxText, errkind.Invalid)
		}
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return fmt.Errorf("audit entry: %s is not UTF-8 text without NUL: %w", name, errkind.Invalid)
		}
	}
	for name, v := range map[string]json.RawMessage{"before": e.Before, "after": e.After} {
		if len(v) > MaxRecord {
			return fmt.Errorf("audit entry: %s is %d bytes, over %d: %w", name, len(v), MaxRecord, errkind.Invalid)
		}
		if len(v) > 0 && (!json.Valid(v) || !utf8.Valid(v)) {
			return fmt.Errorf("audit entry: %s is not JSON: %w", name, errkind.Invalid)
		}
	}
	return nil
}

// Query selects entries: every field that is set must match. Entries come
// oldest first, after Seq After, at most Limit (default DefaultLimit, at
// most MaxLimit).
type Query struct {
	After  int64
	Limit  int
	Actor  string
	Action string // exact, or a prefix ending in "." ("campaign.")
	Since  time.Time
	Until  time.Time // exclusive
	// Orgs, when not nil, keeps the entries of those organisations only
	// (a scoped reader's); estate-wide entries (Org "") are then left out.
	Orgs []string
}

// Page sizes of List.
const (
	DefaultLimit = 500
	MaxLimit     = 10000
)

// Normalise fills in the default limit and bounds it.
func (q *Query) Normalise() error {
	switch {
	case q.Limit < 0:
		return fmt.Errorf("audit query: limit %d: want 0 (the default) to %d: %w", q.Limit, MaxLimit, errkind.Invalid)
	case q.Limit == 0:
		q.Limit = DefaultLimit
	case q.Limit > MaxLimit:
		q.Limit = MaxLimit
	}
	if q.After < 0 {
		return fmt.Errorf("audit query: after %d: want 0 or more: %w", q.After, errkind.Invalid)
	}
	return nil
}

// Store is the contract of the audit trail's stores: append and read,
// nothing else.
type Store interface {
	// Append validates e, gives it the next Seq and stores it.
	Append(ctx context.Context, e *Entry) error
	// List returns the entries q selects, oldest first.
	List(ctx context.Context, q Query) ([]Entry, error)
}
