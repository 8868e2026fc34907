package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/credentials"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/store"
)

// keyFile is the key file's path: $RINGMASTER_KEY_FILE, else the
// database path plus ".key", or for a PostgreSQL database ./ringmaster.key
// (every node of it needs a copy of the same file).
func (a *app) keyFile() string {
	if a.keyPath != "" { // the demo's own
		return a.keyPath
	}
	if path := a.getenv("RINGMASTER_KEY_FILE"); path != "" {
		return path
	}
	if store.IsPostgres(a.dbFile()) {
		return "ringmaster.key"
	}
	return a.dbFile() + ".key"
}

// sealingKeyring loads the key a new credential is sealed with (see
// credentials.Sealing), telling the operator to back up a key it created.
func (a *app) sealingKeyring(ctx context.Context, s credentials.Store) (*credential.Keyring, error) {
	path := a.keyFile()
	k, created, err := credentials.Sealing(ctx, s, path)
	var kc *credentials.KeyCountError
	if errors.As(err, &kc) {
		return nil, fmt.Errorf("%w, and the database holds %s sealed with another key: set RINGMASTER_KEY_FILE to that key's file (a new key is made only while no credential is stored)",
			kc.Err, plural(kc.Credentials, "credential", "credentials"))
	}
	if created {
		fmt.Fprintf(a.stderr, "note: created a new key file %s (mode 0600) to encrypt stored credentials; back it up and keep it apart from the database: without it they cannot be read\n", path)
	}
	return k, err
}

func newCredentialCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "credential",
		Aliases: []string{"credentials", "cred"},
		Short:   "Manage the credentials executors log on with (stored encrypted)",
	})
	cmd.AddCommand(newCredentialAddCmd(a), newCredentialListCmd(a), newCredentialRemoveCmd(a))
	return cmd
}

func newCredentialAddCmd(a *app) *cobra.Command {
	var user string
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME --username USER --password-stdin",
		Short: "Add a credential; the password is read from standard input",
		Long: `Add a named credential. The password is read from standard input (never from
a flag, so it stays out of shell history and process listings), encrypted
with AES-256-GCM under the key in $RINGMASTER_KEY_FILE (default: the database
path plus ".key") and stored in the database.

The key file is created, mode 0600, only while the database holds no
credential; after that every credential must be sealed with the same key,
which the database recognises by a check value (never the key itself). A
key file that group or others may read or write is refused.`,
		Example: `  printf '%s' "$WINRM_PASSWORD" | ringmaster credential add estate-admin --username 'NHS\svc-ringmaster' --password-stdin
  ringmaster org set-credential RXX estate-admin`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if !fromStdin {
				return usagef("give the password on standard input with --password-stdin")
			}
			secret, err := credentials.ReadSecret(a.stdin)
			if err != nil {
				return err
			}
			c := credential.Credential{Name: argv[0], Username: user, Secret: secret}
			if err := c.Validate(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			s, err := a.credentials(ctx)
			if err != nil {
				return err
			}
			k, err := a.sealingKeyring(ctx, s)
			if err != nil {
				return err
			}
			if err := credentials.Add(ctx, s, k, a.keyFile(), c); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added credential %s (user %s)\n", c.Name, c.Username)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "username", "", "user name, e.g. DOMAIN\\user or user@domain (required)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	return cmd
}

func newCredentialListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List credentials and where they are used (never their passwords)",
		Example: "  ringmaster credential list",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.credentials(cmd.Context())
			if err != nil {
				return err
			}
			creds, err := s.Credentials(cmd.Context())
			if err != nil {
				return err
			}
			tw := newTable(a.stdout, "NAME", "USERNAME", "ORGANISATIONS", "DEVICES", "ADDED")
			for _, c := range creds {
				row(tw, c.Name, c.Username, dash(strings.Join(c.Orgs, ",")), fmt.Sprint(c.Devices), stamp(c.CreatedAt))
			}
			return tw.Flush()
		},
	}
}

func newCredentialRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Remove a credential that nothing uses",
		Example: "  ringmaster credential remove old-admin",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			s, err := a.credentials(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.RemoveCredential(cmd.Context(), argv[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed credential %s\n", argv[0])
			return nil
		},
	}
}

func newOrgSetCredentialCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "set-credential CODE NAME",
		Short:   "Make an organisation's devices log on with a credential (\"\" clears it)",
		Example: "  ringmaster org set-credential RXX estate-admin",
		Args:    args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			s, err := a.credentials(cmd.Context())
			if err != nil {
				return err
			}
			if err := s.SetOrganisationCredential(cmd.Context(), argv[0], argv[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "organisation %s uses credential %s\n", inventory.NormaliseOrgCode(argv[0]), dash(argv[1]))
			return nil
		},
	}
}
