package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/access"
)

func newTokenCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{Use: "token", Short: "Create, list and revoke API tokens for ringmaster serve"})
	var (
		role, scope, note string
		expires           time.Duration
		output            string
	)
	create := &cobra.Command{
		Use:   "create SUBJECT",
		Short: "Create an API token; its secret is printed once",
		Long: `Create an API token for SUBJECT (a person or a program) with a role and a
scope. The secret is printed once, on standard output, and stored only as
its SHA-256: keep it in a secret store. Roles, each holding the rights of
those before it: viewer, operator, approver, admin. Scopes: estate,
region:TAG (the organisations tagged TAG) or org:CODE[,CODE...].`,
		Example: "  ringmaster token create dashboard --role viewer --scope estate\n  ringmaster token create rxx-ops --role operator --scope org:RXX --expires 720h",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			r, err := access.ParseRole(role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			sc, err := access.ParseScope(scope)
			if err != nil {
				return usagef("--scope: %v", err)
			}
			is, err := a.issuer(cmd.Context())
			if err != nil {
				return err
			}
			secret, t, err := is.Issue(cmd.Context(), access.System(a.actor()), argv[0], r, sc, expires, note)
			if err != nil {
				return err
			}
			a.audited(t.ID, nil, t)
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "token %s for %s: %s over %s, expires %s; the secret above is shown once\n", t.ID, t.Subject, t.Role, t.Scope, t.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "viewer, operator, approver or admin (required)")
	create.Flags().StringVar(&scope, "scope", "", "estate, region:TAG or org:CODE[,CODE...] (required)")
	create.Flags().DurationVar(&expires, "expires", access.DefaultTokenLife, "how long it lives")
	create.Flags().StringVar(&note, "note", "", "what it is for")
	create.MarkFlagRequired("role")
	create.MarkFlagRequired("scope")
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the API tokens (never their secrets)",
		Example: "  ringmaster token list\n  ringmaster token list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			is, err := a.issuer(cmd.Context())
			if err != nil {
				return err
			}
			ts, err := is.List(cmd.Context(), access.System(a.actor()))
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ts)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSUBJECT\tROLE\tSCOPE\tEXPIRES\tSTATE")
			now := a.now()
			for _, t := range ts {
				state := "usable"
				switch {
				case !t.RevokedAt.IsZero():
					state = "revoked " + t.RevokedAt.Format(time.RFC3339)
				case !now.Before(t.ExpiresAt):
					state = "expired"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, terminalSafe(t.Subject), t.Role, t.Scope, t.ExpiresAt.Format(time.RFC3339), state)
			}
			return tw.Flush()
		},
	}
	outputFlag(list, &output, "table", "table", "json")
	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke an API token at once",
		Example: "  ringmaster token revoke 3f9c2a7be041",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			is, err := a.issuer(cmd.Context())
			if err != nil {
				return err
			}
			before, after, err := is.Revoke(cmd.Context(), access.System(a.actor()), argv[0])
			if err != nil {
				return err
			}
			a.audited(after.ID, before, after)
			fmt.Fprintf(a.stdout, "token %s (%s) revoked\n", after.ID, terminalSafe(after.Subject))
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
