package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
)

func newNodesCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the scheduler nodes (ringmaster run) on this database, what each serves and runs",
		Long: `List the nodes: every ringmaster run on this database registers itself
and renews its registration every third of a lease. A node that stopped
renewing (killed, or cut off from the database) shows as lapsed for a day,
then is forgotten. LEADER marks River's elected leader, whose periodic job
starts the control passes; RUNNING is the device jobs it runs now.`,
		Example: "  ringmaster nodes\n  ringmaster nodes -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := a.open(ctx)
			if err != nil {
				return err
			}
			reg, err := db.Nodes(ctx)
			if err != nil {
				return err
			}
			jobs, err := a.jobs(ctx)
			if err != nil {
				return err
			}
			if err := scheduler.Migrate(ctx, jobs); err != nil {
				return err
			}
			wall := time.Now()
			ns, err := scheduler.Nodes(ctx, jobs, reg, wall)
			if err != nil {
				return err
			}
			type jsonNode struct {
				Name    string    `json:"name"`
				Serve   string    `json:"serve"`
				Queue   string    `json:"queue"`
				Host    string    `json:"host"`
				PID     int       `json:"pid"`
				Workers int       `json:"workers"`
				Version string    `json:"version"`
				Started time.Time `json:"started"`
				Seen    time.Time `json:"seen"`
				Until   time.Time `json:"until"`
				Live    bool      `json:"live"`
				Leader  bool      `json:"leader"`
				Running int       `json:"running"`
			}
			out := make([]jsonNode, 0, len(ns))
			for _, n := range ns {
				out = append(out, jsonNode{n.Name, n.Serve, n.Queue, n.Host, n.PID, n.Workers, n.Version, n.Started, n.Seen, n.Until, n.Live, n.Leader, n.Running})
			}
			return a.printAs(output, out, func() error {
				if len(ns) == 0 {
					fmt.Fprintln(a.stdout, "no node has run on this database (ringmaster run)")
					return nil
				}
				tw := newTable(a.stdout, "NAME", "STATE", "SERVES", "HOST", "PID", "WORKERS", "RUNNING", "LEADER", "SEEN")
				for _, n := range ns {
					state, serves, leader, seen := "live", n.Serve, "", "-"
					if !n.Live {
						state = "lapsed"
					}
					if serves == "" {
						serves = "every organisation"
					}
					if n.Leader {
						leader = "yes"
					}
					if !n.Seen.IsZero() {
						seen = wall.Sub(n.Seen).Round(time.Second).String() + " ago"
					}
					row(tw, printable(n.Name), state, printable(serves), printable(n.Host), strconv.Itoa(n.PID), strconv.Itoa(n.Workers),
						strconv.Itoa(n.Running), leader, seen)
				}
				return tw.Flush()
			})
		},
	}
	outputFlag(cmd, &output, "table", "table", "json")
	return cmd
}
