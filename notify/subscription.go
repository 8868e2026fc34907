package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Channel is how a subscription is told.
type Channel string

// Channels.
const (
	Webhook Channel = "webhook"
	Email   Channel = "email"
)

// Format is a webhook's body.
type Format string

// Webhook bodies.
const (
	FormatJSON  Format = "json"  // the Event as JSON
	FormatTeams Format = "teams" // {"text": ...}, which Teams' and Slack's incoming webhooks take
	FormatSlack Format = "slack" // the same body
)

// Subscription is who is told of what: an organisation's events (Org) or
// every event (Org ""), by webhook or email. It holds no secret: the
// signing secret and the SMTP password are read from their files at send
// time.
type Subscription struct {
	ID      int64
	Org     string // "" for national
	Channel Channel
	// Webhook.
	URL        string
	Format     Format
	SecretFile string // HMAC-SHA256 key for X-Ringmaster-Signature ("" unsigned)
	// Email.
	To           string
	SMTP         string // host:port
	From         string
	Username     string // "" for no AUTH
	PasswordFile string
	AllowPlain   bool // send without STARTTLS when the server does not offer it
	CreatedAt    time.Time
}

var orgRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// Validate checks a subscription before it is stored; its errors wrap
// errkind.Invalid.
func (s *Subscription) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("notification: "+format+": %w", append(a, errkind.Invalid)...)
	}
	if s.Org != "" && !orgRE.MatchString(s.Org) {
		return bad("organisation code %q is not valid", s.Org)
	}
	switch s.Channel {
	case Webhook:
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return bad("webhook URL must be an absolute http or https URL")
		}
		if u.User != nil {
			return bad("webhook URL must not carry a user or password")
		}
		switch s.Format {
		case "":
			s.Format = FormatJSON
		case FormatJSON, FormatTeams, FormatSlack:
		default:
			return bad("format %q: want json, teams or slack", s.Format)
		}
		if s.To != "" || s.SMTP != "" || s.Username != "" || s.PasswordFile != "" {
			return bad("a webhook takes no email settings")
		}
	case Email:
		a, err := mail.ParseAddress(s.To)
		if err != nil || a.Name != "" {
			return bad("recipient %q is not an email address", s.To)
		}
		if s.From == "" {
			s.From = "ringmaster@localhost"
		}
		if f, err := mail.ParseAddress(s.From); err != nil || f.Name != "" {
			return bad("sender %q is not an email address", s.From)
		}
		host, port, err := net.SplitHostPort(s.SMTP)
		if err != nil || host == "" || port == "" {
			return bad("SMTP server %q: want host:port", s.SMTP)
		}
		if (s.Username == "") != (s.PasswordFile == "") {
			return bad("SMTP authentication needs both a user name and a password file")
		}
		if s.URL != "" || s.SecretFile != "" || s.Format != "" {
			return bad("an email takes no webhook settings")
		}
	default:
		return bad("channel %q: want webhook or email", s.Channel)
	}
	return nil
}

// Scope is "national" or the organisation's code.
func (s Subscription) Scope() string {
	if s.Org == "" {
		return "national"
	}
	return s.Org
}

// Target says where a subscription sends without any secret: a webhook's
// scheme and host only (Teams' and Slack's URLs are themselves secrets),
// an email's recipient and server.
func (s Subscription) Target() string {
	if s.Channel == Webhook {
		if u, err := url.Parse(s.URL); err == nil {
			return u.Scheme + "://" + u.Host + "/…"
		}
		return "(unreadable URL)"
	}
	return s.To + " via " + s.SMTP
}

// String never shows a secret.
func (s Subscription) String() string {
	return fmt.Sprintf("notification %d (%s %s, %s)", s.ID, s.Scope(), s.Channel, s.Target())
}

// Delivery is one event to send to one subscription.
type Delivery struct {
	ID           int64
	Subscription int64
	Key          string
	Event        []byte // the Event as JSON
	Attempts     int    // made before this one
}

// Result is how an attempt ended: delivered (Err ""), or failed and due
// again at Next, or failed for good (Next zero).
type Result struct {
	At   time.Time
	Err  string
	Next time.Time
}

// RequestError is a subscription refused for what was asked: settings
// Validate refuses, or a secret file that cannot be read or that others
// may read. Its text is the reason's.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// Prepare readies s to be stored: the secret files it names are made
// absolute (run reads them when sending, from wherever it runs) and
// checked as sending will (CheckSecretFile), then s is validated. What it
// refuses is a *RequestError.
func (s *Subscription) Prepare() error {
	for _, f := range []*string{&s.SecretFile, &s.PasswordFile} {
		if *f == "" {
			continue
		}
		abs, err := filepath.Abs(*f)
		if err != nil {
			return err
		}
		if err := CheckSecretFile(abs); err != nil {
			return &RequestError{err}
		}
		*f = abs
	}
	if err := s.Validate(); err != nil {
		return &RequestError{err}
	}
	return nil
}

// UnknownOrgError is a subscription to an organisation the inventory does
// not have (its code as the inventory writes it, upper case).
type UnknownOrgError struct{ Org string }

func (e *UnknownOrgError) Error() string {
	return fmt.Sprintf("organisation %s is not in the inventory", e.Org)
}

// Organisations lists the inventory's organisations (store/sqlite's
// Inventory is one).
type Organisations interface {
	Organisations(ctx context.Context) ([]inventory.Organisation, error)
}

// Subscribe stores a prepared subscription (Prepare), refusing one for
// an organisation orgs does not list with an *UnknownOrgError.
func Subscribe(ctx context.Context, store Store, orgs Organisations, s Subscription) (Subscription, error) {
	if s.Org != "" {
		list, err := orgs.Organisations(ctx)
		if err != nil {
			return Subscription{}, err
		}
		if !slices.ContainsFunc(list, func(o inventory.Organisation) bool { return o.Code == s.Org }) {
			return Subscription{}, &UnknownOrgError{s.Org}
		}
	}
	return store.AddSubscription(ctx, s)
}

// Store keeps subscriptions and the outbox of deliveries (store/sqlite's
// Notifications today, PostgreSQL's next).
type Store interface {
	// AddSubscription stores a subscription, returning it with its ID and
	// creation time.
	AddSubscription(ctx context.Context, s Subscription) (Subscription, error)
	// Subscriptions lists every subscription by ID.
	Subscriptions(ctx context.Context) ([]Subscription, error)
	// Subscription returns one, or an error wrapping errkind.NotFound.
	Subscription(ctx context.Context, id int64) (Subscription, error)
	// RemoveSubscription deletes one and its deliveries, or returns an
	// error wrapping errkind.NotFound.
	RemoveSubscription(ctx context.Context, id int64) error
	// Enqueue records, in one transaction, a delivery of the event with
	// key to each of subs that has none for key yet, due at once, and says
	// how many it recorded: the same key is never delivered twice to one
	// subscription.
	Enqueue(ctx context.Context, key string, event []byte, subs []int64, now time.Time) (int, error)
	// Claim takes up to n undelivered deliveries due by now whose lease
	// has lapsed, leasing them until until, oldest first.
	Claim(ctx context.Context, now, until time.Time, n int) ([]Delivery, error)
	// Settle records how an attempt at a delivery ended and frees it; a
	// delivery already delivered stays delivered (a late result from a
	// node whose lease outlived another's changes nothing).
	Settle(ctx context.Context, id int64, r Result) error
	// Pending counts the deliveries not yet delivered nor given up, per
	// subscription.
	Pending(ctx context.Context) (map[int64]int, error)
}

// ErrNoSecret is a secret file that could not be read.
var ErrNoSecret = errors.New("secret file unreadable")

// secretPrefix keeps secrets from printing: only the file is named.
func secretError(path string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrNoSecret, path, strings.TrimPrefix(err.Error(), "open "+path+": "))
}
