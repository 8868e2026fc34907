package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

var (
	errUnauthenticated = errors.New("no credentials: send Authorization: Bearer <token> (ringmaster token create makes one), or sign in at /auth/login")
	errBadCredentials  = errors.New("invalid, expired or revoked credentials")
)

// authenticate finds who r acts for: an API token or an ID token of the
// sign-in provider as a bearer token, else a signed-in person's session
// cookie (whose changes must come from this server's own pages: a
// cross-origin request carrying it is refused). Failures count against
// the client's address: past the limiter's allowance it is refused
// without looking.
func (s *Server) authenticate(ctx context.Context, r *http.Request, from string) (access.Principal, error) {
	var presented string
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			s.cfg.Limiter.Fail(from, s.cfg.Now())
			return access.Principal{}, errBadCredentials
		}
		presented = strings.TrimSpace(rest)
	} else if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := s.csrf.Check(r); err != nil {
			return access.Principal{}, fmt.Errorf("a change with a session cookie from another site: %w", errkind.Forbidden)
		}
		presented = ck.Value
	} else {
		return access.Principal{}, errUnauthenticated
	}
	if wait := s.cfg.Limiter.Blocked(from, s.cfg.Now()); wait > 0 {
		return access.Principal{}, &TooManyError{RetryAfter: wait}
	}
	p, err := access.Authenticate(ctx, s.cfg.Tokens, presented, s.cfg.Now())
	if errors.Is(err, access.ErrBadToken) && !strings.HasPrefix(presented, access.TokenPrefix) {
		if p, err = s.idTokenPrincipal(ctx, presented); errors.Is(err, errNotJWT) {
			err = access.ErrBadToken
		}
	}
	switch {
	case errors.Is(err, access.ErrBadToken), errors.Is(err, errBadCredentials):
		s.cfg.Limiter.Fail(from, s.cfg.Now())
		s.cfg.Log.Info("refused a credential", "from", from) // never the credential itself
		return access.Principal{}, errBadCredentials
	case err != nil:
		return access.Principal{}, err
	}
	return p, nil
}

// TooManyError is a client refused for failing to sign in too often.
type TooManyError struct{ RetryAfter time.Duration }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("too many failed sign-ins from this address: try again in %s", e.RetryAfter.Round(time.Second))
}

// Limiter slows guessing: a client address that fails to authenticate
// more than Allowed times within Window is refused until the window since
// its first failure has passed. It is kept in memory per process; each
// node of several limits on its own.
type Limiter struct {
	Allowed int
	Window  time.Duration

	mu   sync.Mutex
	seen map[string]*failures
}

type failures struct {
	first time.Time
	n     int
}

// NewLimiter allows allowed failures per window per address.
func NewLimiter(allowed int, window time.Duration) *Limiter {
	return &Limiter{Allowed: allowed, Window: window, seen: map[string]*failures{}}
}

// maxTracked bounds the addresses held; past it, the expired are dropped.
const maxTracked = 100000

// Fail counts a failure from addr at now.
func (l *Limiter) Fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[addr]
	if f == nil || now.Sub(f.first) >= l.Window {
		if len(l.seen) >= maxTracked {
			for a, g := range l.seen {
				if now.Sub(g.first) >= l.Window {
					delete(l.seen, a)
				}
			}
		}
		f = &failures{first: now}
		l.seen[addr] = f
	}
	f.n++
}

// Blocked says how long addr must wait before trying again (0: it may).
func (l *Limiter) Blocked(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[addr]
	if f == nil || f.n < l.Allowed {
		return 0
	}
	if wait := l.Window - now.Sub(f.first); wait > 0 {
		return wait
	}
	delete(l.seen, addr)
	return 0
}
