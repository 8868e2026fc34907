package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Event feed timings.
const (
	// feedPoll is how often a feed looks for new transitions and counts.
	feedPoll = time.Second
	// feedKeepAlive is how often an idle feed sends a comment, so that
	// proxies keep the connection.
	feedKeepAlive = 15 * time.Second
	// feedPage is the most transitions read at once.
	feedPage = 500
)

// TransitionEvent is a device's change of state in a campaign's feed.
type TransitionEvent struct {
	ID       int64     `json:"id"`
	Hostname string    `json:"hostname"`
	Org      string    `json:"org"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Reason   string    `json:"reason"`
	Cause    string    `json:"cause"`
	At       time.Time `json:"at"`
}

// EventsPage is a campaign's feed read once, for a client that polls
// rather than streams (the JSON form of the events operation): its counts
// now and the transitions after the one asked for, at most a page; Next is
// the after of the next page.
type EventsPage struct {
	Counts      campaigns.Summary `json:"counts"`
	Transitions []TransitionEvent `json:"transitions"`
	Next        int64             `json:"next"`

	feed *feed
}

func (s *Server) eventRoutes() {
	type eventsIn struct {
		Name   string `path:"name"`
		After  int64  `query:"after" doc:"resume after this transition id (or send Last-Event-ID)"`
		Follow string `query:"follow" doc:"true (the default): keep the stream open until the campaign ends; false: send what there is now and close"`
	}
	handleRendered(s, Op{ID: "campaign-events", Method: "GET", Path: "/api/v1/campaigns/{name}/events",
		Summary: "Follow a campaign live: as server-sent events (Accept: text/event-stream), its counts (event counts), its waves' statuses (event waves) and each device transition in scope (event transition, with its id), resumable from the last id; as JSON, the same read once, a page at a time",
		Tag:     "campaigns", Role: access.Viewer, Formats: []string{"text/event-stream"}},
		func(ctx context.Context, c *Call, in *eventsIn) (EventsPage, error) {
			orgs, err := c.Orgs(ctx)
			if err != nil {
				return EventsPage{}, err
			}
			after := in.After
			if id := c.lastEventID; id != "" {
				if after, err = strconv.ParseInt(id, 10, 64); err != nil || after < 0 {
					return EventsPage{}, &BadRequestError{Where: "header Last-Event-ID", Err: fmt.Errorf("%q is not a transition id", id)}
				}
			}
			if after < 0 {
				return EventsPage{}, &BadRequestError{Where: "query parameter after", Err: fmt.Errorf("%d: want 0 or more", after)}
			}
			if in.Follow != "" && in.Follow != "true" && in.Follow != "false" {
				return EventsPage{}, &BadRequestError{Where: "query parameter follow", Err: fmt.Errorf("%q: want true or false", in.Follow)}
			}
			first, err := s.cfg.Campaigns.SummaryIn(ctx, in.Name, orgs)
			if err != nil {
				return EventsPage{}, err
			}
			f := &feed{s: s, cs: s.cfg.Campaigns, name: in.Name, orgs: orgs, after: after, follow: in.Follow != "false", last: first, ctx: ctx}
			page := EventsPage{Counts: first, Transitions: []TransitionEvent{}, Next: after, feed: f}
			if c.format == "text/event-stream" {
				return page, nil // the stream reads as it goes
			}
			ts, err := s.cfg.Campaigns.TransitionsIn(ctx, in.Name, orgs, after, feedPage)
			if err != nil {
				return EventsPage{}, err
			}
			for _, t := range ts {
				page.Transitions = append(page.Transitions, transitionEvent(t))
				page.Next = t.ID
			}
			return page, nil
		},
		func(w io.Writer, p EventsPage, _ string) error { return p.feed.run(p.feed.ctx, w) })
}

func transitionEvent(t orchestrator.Transition) TransitionEvent {
	return TransitionEvent{ID: t.ID, Hostname: t.Hostname, Org: t.Org, From: string(t.From), To: string(t.To),
		Reason: string(t.Reason), Cause: t.Cause, At: t.At}
}

// feed streams one campaign to one reader.
type feed struct {
	s      *Server
	cs     *campaigns.Service
	name   string
	orgs   access.Orgs
	after  int64
	follow bool
	last   campaigns.Summary
	waves  []campaigns.WaveState
	// ctx is the request's: the stream ends with it.
	ctx context.Context
}

func (f *feed) run(ctx context.Context, w io.Writer) error {
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	if err := send(w, "counts", "", f.last); err != nil {
		return err
	}
	poll := time.NewTicker(feedPoll)
	defer poll.Stop()
	idle := time.Now()
	for {
		n, err := f.transitions(ctx, w)
		if err != nil {
			return err
		}
		sum, err := f.cs.SummaryIn(ctx, f.name, f.orgs)
		if err != nil {
			return err
		}
		if !sameSummary(sum, f.last) {
			if err := send(w, "counts", "", sum); err != nil {
				return err
			}
			f.last, n = sum, n+1
		}
		ws, err := f.cs.WaveStates(ctx, f.name)
		if err != nil {
			return err
		}
		if !slices.Equal(ws, f.waves) {
			if err := send(w, "waves", "", map[string][]campaigns.WaveState{"waves": ws}); err != nil {
				return err
			}
			f.waves, n = ws, n+1
		}
		st := orchestrator.Status(sum.Status)
		final := st == orchestrator.StatusDone || st == orchestrator.StatusCancelled
		if final || !f.follow {
			if final {
				// What the last pass wrote is in; anything later is not.
				if _, err := f.transitions(ctx, w); err != nil {
					return err
				}
			}
			err := send(w, "end", "", map[string]string{"status": sum.Status})
			flush()
			return err
		}
		if n > 0 {
			idle = time.Now()
		} else if time.Since(idle) >= feedKeepAlive {
			if _, err := io.WriteString(w, ": still here\n\n"); err != nil {
				return err
			}
			idle = time.Now()
		}
		flush()
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

// transitions sends every transition after f.after, a page at a time.
func (f *feed) transitions(ctx context.Context, w io.Writer) (int, error) {
	sent := 0
	for {
		ts, err := f.cs.TransitionsIn(ctx, f.name, f.orgs, f.after, feedPage)
		if err != nil {
			return sent, err
		}
		for _, t := range ts {
			if err := send(w, "transition", strconv.FormatInt(t.ID, 10), transitionEvent(t)); err != nil {
				return sent, err
			}
			f.after = t.ID
			sent++
		}
		if len(ts) < feedPage {
			return sent, nil
		}
	}
}

func sameSummary(a, b campaigns.Summary) bool {
	if a.Status != b.Status || a.Devices != b.Devices || len(a.States) != len(b.States) {
		return false
	}
	for k, v := range a.States {
		if b.States[k] != v {
			return false
		}
	}
	return true
}

// send writes one server-sent event.
func send(w io.Writer, event, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if id != "" {
		if _, err := fmt.Fprintf(w, "id: %s\n", id); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	return err
}
