package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// routing is what the registered nodes serve, as last read: live (for
// deciding and routing) and every registered one (a device no live node
// serves is queued where its lapsed node will look when it is back).
type routing struct {
	live, known orchestrator.Placements
	// dead are the queues registered nodes served that no live node does.
	dead []string
}

// pruneAfter is how long a lapsed node stays listed (ringmaster nodes
// shows it, and its queue is swept) before its registration is removed.
const pruneAfter = 24 * time.Hour

// DefaultName names a node that was not given a name: the machine's
// hostname and the process's id, unique among the processes running at
// once.
func DefaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// self is this node's registration as of wall.
func (s *Scheduler) self(wall time.Time) orchestrator.Node {
	host, _ := os.Hostname()
	return orchestrator.Node{Name: s.cfg.Name, Serve: s.cfg.Placement.String(), Queue: s.queue, Host: host, PID: os.Getpid(),
		Workers: s.cfg.Workers, Version: s.cfg.Version, Started: s.started, Seen: wall, Until: wall.Add(s.cfg.Lease)}
}

// register records this node in the registry, refusing a name a live
// node of another process holds, and renews the registration every third
// of a lease until stop or until ctx (Start's) ends, as the node's work
// does: a node whose context was cancelled lapses a lease later.
func (s *Scheduler) register(ctx context.Context) (stop func(context.Context), err error) {
	if s.cfg.Nodes == nil {
		s.routes.Store(s.alone())
		return func(context.Context) {}, nil
	}
	wall := time.Now()
	s.started = wall
	nodes, err := s.cfg.Nodes.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("node registry: %w", err)
	}
	me := s.self(wall)
	for _, n := range nodes {
		if n.Name == me.Name && n.Live(wall) && (n.Host != me.Host || (n.PID != me.PID && processRuns(n.PID))) {
			return nil, fmt.Errorf("node %s is already running on %s (process %d, seen %s ago): give this one another name (--node), or start it once that registration lapses (%s): %w",
				n.Name, n.Host, n.PID, wall.Sub(n.Seen).Round(time.Second), n.Until.Sub(wall).Round(time.Second), errkind.Exists)
		}
	}
	if err := s.cfg.Nodes.Register(ctx, me); err != nil {
		return nil, err
	}
	if _, err := s.refresh(ctx, false); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.Background(), s.cfg.Lease/3)
			wall := time.Now()
			err := s.cfg.Nodes.Renew(rctx, s.cfg.Name, wall, wall.Add(s.cfg.Lease))
			if errors.Is(err, errkind.NotFound) { // pruned while this node was cut off
				err = s.cfg.Nodes.Register(rctx, s.self(wall))
			}
			cancel()
			if err != nil {
				s.log.Warn("could not renew this node's registration", "node", s.cfg.Name, "err", err)
			}
		}
	}()
	return func(ctx context.Context) {
		close(done)
		<-stopped
		if err := s.cfg.Nodes.Deregister(ctx, s.cfg.Name); err != nil {
			s.log.Warn("could not remove this node's registration: it lapses within a lease", "node", s.cfg.Name, "err", err)
		}
	}, nil
}

// alone is the routing of a scheduler without a registry: it is the only
// node.
func (s *Scheduler) alone() *routing {
	me := s.self(time.Now())
	me.Until = time.Now().AddDate(100, 0, 0)
	ps := orchestrator.LivePlacements([]orchestrator.Node{me}, time.Now())
	return &routing{live: ps, known: ps}
}

// refresh reads the registry into the routing that passes and enqueues
// use; with prune (the sweep's), it first removes registrations lapsed
// long ago.
func (s *Scheduler) refresh(ctx context.Context, prune bool) (*routing, error) {
	if s.cfg.Nodes == nil {
		r := s.routes.Load()
		if r == nil {
			r = s.alone()
			s.routes.Store(r)
		}
		return r, nil
	}
	wall := time.Now()
	if prune {
		if _, err := s.cfg.Nodes.Prune(ctx, wall.Add(-pruneAfter)); err != nil {
			return nil, fmt.Errorf("node registry: %w", err)
		}
	}
	nodes, err := s.cfg.Nodes.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("node registry: %w", err)
	}
	r := &routing{live: orchestrator.LivePlacements(nodes, wall), known: orchestrator.LivePlacements(nodes, time.Time{})}
	live := r.live.Queues()
	for _, q := range append(r.known.Queues(), orchestrator.DefaultQueue) {
		if !slices.Contains(live, q) && !slices.Contains(r.dead, q) {
			r.dead = append(r.dead, q)
		}
	}
	s.routes.Store(r)
	return r, nil
}

// route is the queue of a device of org: a live node's that serves it,
// else a lapsed node's (it will look there when it is back), else the
// default queue.
func (s *Scheduler) route(org, hostname string) string {
	r := s.routes.Load()
	if r == nil {
		return s.queue
	}
	if q, ok := r.live.Route(org, hostname); ok {
		return q
	}
	if q, ok := r.known.Route(org, hostname); ok {
		return q
	}
	return orchestrator.DefaultQueue
}

// unserved are the organisations of a view no live node serves.
func unserved(r *routing, v orchestrator.View) map[string]bool {
	if r == nil {
		return nil
	}
	var orgs []string
	for _, c := range v.Counts {
		if !slices.Contains(orgs, c.Org) {
			orgs = append(orgs, c.Org)
		}
	}
	return r.live.Unserved(orgs)
}

// reroute moves the device jobs waiting in queues no live node serves
// (their node was stopped or killed, or restarted with another placement)
// to a live node that serves their organisation: the device gets a new
// generation and job there (Redispatch), and the old job is cancelled. A
// job whose device has moved on is cancelled; one whose organisation no
// live node serves stays where it is.
func (s *Scheduler) reroute(ctx context.Context, r *routing) error {
	if r == nil || len(r.dead) == 0 || !r.live.Any() {
		return nil
	}
	const page = 500
	params := river.NewJobListParams().Kinds(deviceArgs{}.Kind()).Queues(r.dead...).
		States(rivertype.JobStateAvailable, rivertype.JobStateRetryable, rivertype.JobStateScheduled).First(page)
	var errs []error
	for {
		res, err := s.client.JobList(ctx, params)
		if err != nil {
			return fmt.Errorf("list device jobs in queues no node serves: %w", err)
		}
		for _, j := range res.Jobs {
			if err := s.rerouteJob(ctx, r, j); err != nil {
				errs = append(errs, fmt.Errorf("device job %d: %w", j.ID, err))
			}
		}
		if len(res.Jobs) < page {
			return errors.Join(errs...)
		}
		params = params.After(res.LastCursor)
	}
}

func (s *Scheduler) rerouteJob(ctx context.Context, r *routing, j *rivertype.JobRow) error {
	var a deviceArgs
	if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
		return fmt.Errorf("args: %w", err)
	}
	d, err := s.cfg.Store.Device(ctx, a.Campaign, a.Hostname)
	switch {
	case errors.Is(err, errkind.NotFound):
	case err != nil:
		return err
	case d.Generation == a.Generation && d.State == orchestrator.DeviceQueued:
		q, ok := r.live.Route(d.Org, d.Hostname)
		if !ok || q == j.Queue {
			return nil // waits for a node that serves it
		}
		moved, err := s.cfg.Store.Redispatch(ctx, a.Campaign, a.Hostname, a.Generation,
			"controller: no live node serves the queue it waited in", s.enqueue)
		if err != nil {
			return err
		}
		if moved {
			s.wake()
			s.log.Info("device job moved to a live node's queue", "campaign", a.Campaign, "device", a.Hostname, "from", j.Queue, "to", q)
		}
	case d.Generation == a.Generation:
		return nil // running or finished under this job: River finalises it
	}
	if _, err := s.client.JobCancel(ctx, j.ID); err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("cancel: %w", err)
	}
	return nil
}

// processRuns reports whether a process pid runs on this machine: a
// node restarted after a crash takes its name back from the dead
// process's registration at once, not a lease later.
func processRuns(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM) // EPERM: it runs, as another user
}
