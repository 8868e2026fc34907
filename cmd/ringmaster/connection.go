package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

func newOrgSetConnectionCmd(a *app) *cobra.Command {
	var (
		def, clear bool
		c          inventory.Connection
		caFile     string
		options    map[string]string
	)
	cmd := &cobra.Command{
		Use:   "set-connection CODE|--default [--executor X] [--https] [--ca-file F] [--port N] [--auth A] [--credential NAME]",
		Short: "Set how an organisation's devices (or, with --default, every organisation's without one) are reached",
		Long: `Set a connection profile once: the executor, the transport (HTTPS, the CA
bundle, the port, the authentication scheme) and the credential that probe,
exec, playbook run and run use for an organisation's devices; --default
sets the estate's, used by organisations without their own. Only the flags
given change; the rest of the profile stays (a new organisation profile
starts from the default's transport). The CA bundle's content is
stored (under --max-file-size), not its path. Flags given to probe, exec,
playbook run and run override the profile for that command.

--clear removes the profile: the organisation's devices use the default's
(its credential stays: org set-credential CODE "" clears it); the default's
goes with its credential.`,
		Example: `  ringmaster org set-connection --default --https --ca-file estate-ca.pem --credential estate-admin
  ringmaster org set-connection RXX --executor ssh --option known_hosts=@known_hosts --port 22
  ringmaster org set-connection RXX --clear`,
		Args: args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if def == (len(argv) == 1) {
				return usagef("give an organisation's CODE or --default, not both")
			}
			org := ""
			if !def {
				org = inventory.NormaliseOrgCode(argv[0])
			}
			ctx := cmd.Context()
			db, err := a.open(ctx)
			if err != nil {
				return err
			}
			s := db.Inventory()
			if clear {
				if cmd.Flags().NFlag() > 1+btoi(def) {
					return usagef("--clear takes no other flag")
				}
				if err := s.ClearConnection(ctx, org); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "cleared %s\n", targets.ProfileName(org))
				return nil
			}
			p, err := targets.EditProfile(ctx, s, org)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			for name, set := range map[string]func(){
				"executor": func() { p.Executor = c.Executor }, "https": func() { p.HTTPS = c.HTTPS }, "port": func() { p.Port = c.Port },
				"auth": func() { p.Auth = c.Auth }, "allow-basic-without-tls": func() { p.AllowBasicWithoutTLS = c.AllowBasicWithoutTLS },
				"credential": func() { p.Credential = c.Credential }, "option": func() { p.Options = options },
				"ca-file": func() { p.CACert, p.CAName = nil, "" },
			} {
				if f.Changed(name) {
					set()
				}
			}
			warning, err := targets.SetConnection(ctx, a.targetsConfig(db), s, &p, targets.ProfileFiles{CAFile: caFile})
			var field *inventory.FieldError
			if errors.As(err, &field) { // (no targets error wraps one)
				return usagef("--%s: %s", field.Field, field.Error())
			}
			if err != nil {
				return targetsError(err)
			}
			if warning != "" {
				fmt.Fprintf(a.stderr, "warning: --allow-basic-without-tls: %s\n", warning)
			}
			shown, err := targets.ShowProfile(ctx, s, org)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %s, credential %s\n", targets.ProfileName(org), shown, dash(shown.Credential))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&def, "default", false, "set the estate default profile, used by organisations without their own")
	f.BoolVar(&clear, "clear", false, "remove the profile")
	f.StringVar(&c.Executor, "executor", "", "executor: the built-in winrm, or a plugin registered with ringmaster plugin install")
	f.BoolVar(&c.HTTPS, "https", false, "use HTTPS (--https=false to turn it off)")
	f.StringVar(&caFile, "ca-file", "", "PEM bundle of the CAs that sign the devices' certificates, stored (\"\" for the system roots)")
	f.IntVar(&c.Port, "port", 0, "port for devices whose address names none (0: 5985, or 5986 with HTTPS)")
	f.StringVar(&c.Auth, "auth", "", "authentication: ntlm or basic (basic needs --https, whose certificates are verified)")
	f.BoolVar(&c.AllowBasicWithoutTLS, "allow-basic-without-tls", false, "let basic send passwords over plain HTTP or unverified TLS (isolated labs only)")
	f.StringVar(&c.Credential, "credential", "", "credential the devices log on with unless they name their own (\"\" for none)")
	keyValuesVar(f, &options, "option", "executor option key=value, repeatable (replaces the profile's options); a value @FILE is read from FILE and stored")
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
