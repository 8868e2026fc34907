package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/audit"
)

// auditedCommands are the commands that change the estate or what runs on
// it, and the action each is recorded under in the audit trail, as the
// API records its own. A command's positional arguments and the names of
// the flags it was given are recorded, never the flags' values (a file
// may be a key).
var auditedCommands = map[string]string{
	"org add": "org.add", "org remove": "org.remove", "org set-connection": "org.set-connection", "org set-credential": "org.set-credential",
	"inventory import": "inventory.import", "inventory label": "inventory.label", "inventory remove": "inventory.remove",
	"credential add": "credential.add", "credential remove": "credential.remove",
	"plugin install": "plugin.install", "plugin remove": "plugin.remove",
	"campaign create": "campaign.create", "campaign start": "campaign.start", "campaign pause": "campaign.pause",
	"campaign resume": "campaign.resume", "campaign cancel": "campaign.cancel", "campaign approve": "campaign.approve",
	"campaign continue": "campaign.continue", "campaign retry": "campaign.retry", "campaign set": "campaign.set",
	"campaign exclude": "campaign.exclude", "campaign include": "campaign.include",
	"alert add": "alert.add", "alert remove": "alert.remove", "alert remediate": "alert.remediate",
	"notify add": "notify.add", "notify remove": "notify.remove",
	"probe": "discovery.probe", "exec": "device.exec", "playbook run": "playbook.run",
	"report snapshot": "report.snapshot", "db copy": "db.copy", "db migrate": "db.migrate",
	"token create": "token.create", "token revoke": "token.revoke",
}

// cliChange is what a command tells the audit trail of its change beyond
// its arguments.
type cliChange struct {
	target        string
	before, after any
}

// audited gives the audit trail the change's target and records.
func (a *app) audited(target string, before, after any) {
	a.change = &cliChange{target: target, before: before, after: after}
}

// recordCLI appends the command's change to the audit trail, if it is
// one and reached the database (a command refused before it opened the
// database changed nothing). It fails the command when the trail cannot
// be written: a change no one can trace is not let pass quietly.
func (a *app) recordCLI(ctx context.Context, cmd *cobra.Command, argv []string, err error) error {
	path := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	action, ok := auditedCommands[path]
	if !ok || a.db == nil {
		return nil
	}
	host, _ := os.Hostname()
	p := access.System(a.actor())
	e := audit.Entry{At: a.now().UTC(), Actor: p.Subject, Via: p.Via, From: host, Action: action, Outcome: audit.Done,
		Target: strings.Join(argv, " ")}
	var flags []string
	cmd.Flags().Visit(func(f *pflag.Flag) { flags = append(flags, "--"+f.Name) })
	if len(flags) > 0 {
		e.Detail = "flags: " + strings.Join(flags, " ")
	}
	if c := a.change; c != nil {
		e.Target = c.target
		e.Before, e.After = auditJSON(c.before), auditJSON(c.after)
	}
	if err != nil {
		e.Outcome, e.Detail = audit.Failed, strings.TrimSpace(e.Detail+"; "+err.Error())
	}
	e.Actor, e.Target, e.Detail = truncate(e.Actor), truncate(e.Target), truncate(e.Detail)
	trail, oerr := a.db.Audit(context.WithoutCancel(ctx))
	if oerr == nil {
		oerr = trail.Append(context.WithoutCancel(ctx), &e)
	}
	if oerr != nil {
		return fmt.Errorf("%s: could not be recorded in the audit trail: %w", action, oerr)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > audit.MaxText {
		return s[:audit.MaxText]
	}
	return s
}

func auditJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > audit.MaxRecord {
		return nil
	}
	return b
}

func newAuditCmd(a *app) *cobra.Command {
	var (
		q            audit.Query
		since, until string
		output       string
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail of changes (append-only)",
		Long: `Read the audit trail: every change made through the API or the CLI, made,
refused or failed, with who made it, when, from where, and the record before
and after where one applies, oldest first. -o ndjson writes one JSON object
a line, for a SIEM; --after SEQ continues from the last entry read.`,
		Example: "  ringmaster audit --action campaign. --since 2026-12-01T00:00:00Z\n  ringmaster audit -o ndjson --after 1200",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if since != "" {
				if q.Since, err = time.Parse(time.RFC3339, since); err != nil {
					return usagef("--since %q: want RFC 3339", since)
				}
			}
			if until != "" {
				if q.Until, err = time.Parse(time.RFC3339, until); err != nil {
					return usagef("--until %q: want RFC 3339", until)
				}
			}
			db, err := a.open(cmd.Context())
			if err != nil {
				return err
			}
			trail, err := db.Audit(cmd.Context())
			if err != nil {
				return err
			}
			es, err := trail.List(cmd.Context(), q)
			if err != nil {
				return err
			}
			switch output {
			case "ndjson":
				enc := json.NewEncoder(a.stdout)
				for _, e := range es {
					if err := enc.Encode(e); err != nil {
						return err
					}
				}
				return nil
			case "json":
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(nonNilEntries(es))
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tVIA\tFROM\tACTION\tTARGET\tORG\tOUTCOME\tDETAIL")
			for _, e := range es {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.At.Format(time.RFC3339), terminalSafe(e.Actor), e.Via,
					terminalSafe(e.From), e.Action, terminalSafe(e.Target), e.Org, e.Outcome, terminalSafe(e.Detail))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().Int64Var(&q.After, "after", 0, "entries after this sequence number")
	cmd.Flags().IntVar(&q.Limit, "limit", 0, "at most this many entries (default 500, at most 10000)")
	cmd.Flags().StringVar(&q.Actor, "actor", "", "only this actor's")
	cmd.Flags().StringVar(&q.Action, "action", "", "only this action (campaign.pause), or those starting with a prefix ending in . (campaign.)")
	cmd.Flags().StringVar(&since, "since", "", "entries at or after this time (RFC 3339)")
	cmd.Flags().StringVar(&until, "until", "", "entries before this time (RFC 3339)")
	outputFlag(cmd, &output, "table", "table", "json", "ndjson")
	return cmd
}

func nonNilEntries(es []audit.Entry) []audit.Entry {
	if es == nil {
		return []audit.Entry{}
	}
	return es
}
