package scheduler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// NodeStatus is a registered node as ringmaster nodes shows it: its
// registration, whether it is live, whether it is River's elected leader
// (the one whose periodic job starts the control passes), and how many
// device jobs it runs now.
type NodeStatus struct {
	orchestrator.Node
	Live    bool
	Leader  bool
	Running int
}

// Nodes lists the registered nodes, live first, with River's leader and
// each one's running device jobs, read from the job queue at wall. Jobs
// River still holds as running for a client no longer registered (a node
// that died and was not started again) are not listed: the sweep and
// River's rescuer settle them.
func Nodes(ctx context.Context, jobs Jobs, reg orchestrator.Nodes, wall time.Time) ([]NodeStatus, error) {
	nodes, err := reg.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	leader, err := jobs.leader(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodes: River's leader: %w", err)
	}
	q, _, err := jobs.client(&river.Config{})
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	running := map[string]int{}
	const page = 1000
	params := river.NewJobListParams().Kinds(deviceArgs{}.Kind()).States(rivertype.JobStateRunning).First(page)
	for {
		res, err := q.JobList(ctx, params)
		if err != nil {
			return nil, fmt.Errorf("nodes: running device jobs: %w", err)
		}
		for _, j := range res.Jobs {
			if n := len(j.AttemptedBy); n > 0 {
				running[j.AttemptedBy[n-1]]++
			}
		}
		if len(res.Jobs) < page {
			break
		}
		params = params.After(res.LastCursor)
	}
	out := make([]NodeStatus, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, NodeStatus{Node: n, Live: n.Live(wall), Leader: n.Name == leader, Running: running[n.Name]})
	}
	// Live first, then by name.
	slices.SortStableFunc(out, func(a, b NodeStatus) int {
		if a.Live != b.Live {
			if a.Live {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out, nil
}
