package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ringmaster-fleet/ringmaster/notify"
)

func newNotifyCmd(a *app) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "notify",
		Aliases: []string{"notification", "notifications"},
		Short:   "Tell people by webhook or email when a wave halts or awaits approval, a campaign ends, an alert is at risk",
	})
	cmd.AddCommand(newNotifyAddCmd(a), newNotifyListCmd(a), newNotifyRemoveCmd(a), newNotifyTestCmd(a))
	return cmd
}

func newNotifyAddCmd(a *app) *cobra.Command {
	var (
		s        notify.Subscription
		national bool
		format   string
	)
	cmd := &cobra.Command{
		Use:   "add --org CODE|--national --webhook URL|--email ADDR --smtp HOST:PORT",
		Short: "Subscribe a webhook or an email address to an organisation's events, or to all",
		Long: `Subscribe a webhook or an email address to the events of one organisation
(--org: waves halted by or with its devices, its organisation halted, an
alert at risk for it) or of the whole estate (--national). Events: a wave
halted, a wave awaiting approval, a campaign done, an alert's deadline at
risk. Each event reaches each subscription once, however often ringmaster
run sees it; run delivers them, retrying with backoff (30s doubling, for
about six hours), and a delivery left when run stops is retried when it
runs again.

A webhook receives a JSON body (or {"text": ...} with --format teams or
slack) by POST, with a 10s timeout and no redirect followed. With
--secret-file the body is signed: X-Ringmaster-Timestamp (Unix seconds) and
X-Ringmaster-Signature: sha256=HEX, HMAC-SHA256 with the file's content as
key over TIMESTAMP + "." + BODY. Email goes by SMTP with STARTTLS, required
unless --smtp-allow-plain; --smtp-user authenticates with AUTH PLAIN (never
without TLS). Secrets are never stored: the files are read when sending and
must not be readable by group or others.`,
		Example: `  ringmaster notify add --national --webhook https://hooks.example.nhs.uk/ringmaster --secret-file /etc/ringmaster/hook.secret
  ringmaster notify add --org RXX --webhook "$TEAMS_WEBHOOK_URL" --format teams
  ringmaster notify add --org RXX --email desktop-team@rxx.nhs.uk --smtp smtp.rxx.nhs.uk:587 \
      --from ringmaster@rxx.nhs.uk --smtp-user ringmaster --smtp-password-file /etc/ringmaster/smtp.pass`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case national == (s.Org != ""):
				return usagef("give one of --org CODE and --national")
			case (s.URL != "") == (s.To != ""):
				return usagef("give one of --webhook URL and --email ADDRESS")
			case s.URL != "":
				s.Channel, s.Format = notify.Webhook, notify.Format(format)
			default:
				s.Channel = notify.Email
			}
			var bad *notify.RequestError
			switch err := s.Prepare(); {
			case errors.As(err, &bad):
				return usageError{err}
			case err != nil:
				return err
			}
			ctx := cmd.Context()
			store, err := a.notifications(ctx)
			if err != nil {
				return err
			}
			inv, err := a.inventory(ctx)
			if err != nil {
				return err
			}
			added, err := notify.Subscribe(ctx, store, inv, s)
			var unknown *notify.UnknownOrgError
			if errors.As(err, &unknown) {
				return usagef("%v (ringmaster org list)", unknown)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "added %s; try it with ringmaster notify test %d\n", added, added.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.Org, "org", "", "organisation whose events to send")
	f.BoolVar(&national, "national", false, "send every organisation's events")
	f.StringVar(&s.URL, "webhook", "", "webhook URL (POST)")
	f.StringVar(&format, "format", "json", "webhook body: json, teams or slack")
	f.StringVar(&s.SecretFile, "secret-file", "", "file holding the webhook's signing secret")
	f.StringVar(&s.To, "email", "", "recipient address")
	f.StringVar(&s.SMTP, "smtp", "", "SMTP server host:port")
	f.StringVar(&s.From, "from", "ringmaster@localhost", "sender address")
	f.StringVar(&s.Username, "smtp-user", "", "SMTP user name (AUTH PLAIN)")
	f.StringVar(&s.PasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	f.BoolVar(&s.AllowPlain, "smtp-allow-plain", false, "send without TLS when the server offers no STARTTLS")
	return cmd
}

func newNotifyListCmd(a *app) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List the notification subscriptions, with deliveries still to make",
		Example: "  ringmaster notify list\n  ringmaster notify list -o json",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			store, err := a.notifications(ctx)
			if err != nil {
				return err
			}
			subs, err := store.Subscriptions(ctx)
			if err != nil {
				return err
			}
			pending, err := store.Pending(ctx)
			if err != nil {
				return err
			}
			type item struct {
				ID      int64  `json:"id"`
				Scope   string `json:"scope"`
				Channel string `json:"channel"`
				Target  string `json:"target"`
				Format  string `json:"format,omitempty"`
				Signed  bool   `json:"signed"`
				Pending int    `json:"pending"`
			}
			items := make([]item, len(subs))
			for i, s := range subs {
				items[i] = item{ID: s.ID, Scope: s.Scope(), Channel: string(s.Channel), Target: s.Target(), Format: string(s.Format),
					Signed: s.SecretFile != "", Pending: pending[s.ID]}
			}
			return a.printAs(output, items, func() error {
				tw := newTable(a.stdout, "ID", "SCOPE", "CHANNEL", "TARGET", "FORMAT", "SIGNED", "PENDING")
				for _, it := range items {
					row(tw, strconv.FormatInt(it.ID, 10), it.Scope, it.Channel, it.Target, it.Format, strconv.FormatBool(it.Signed), strconv.Itoa(it.Pending))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func notifyID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("notification ID %q: want the number notify list shows", s)
	}
	return id, nil
}

func newNotifyRemoveCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Aliases: []string{"rm"},
		Short:   "Remove a notification subscription and its deliveries still to make",
		Example: "  ringmaster notify remove 2",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := notifyID(argv[0])
			if err != nil {
				return err
			}
			store, err := a.notifications(cmd.Context())
			if err != nil {
				return err
			}
			if err := store.RemoveSubscription(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed notification %d\n", id)
			return nil
		},
	}
}

func newNotifyTestCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "test ID",
		Short:   "Send a test event to one subscription now and say how it went",
		Example: "  ringmaster notify test 2",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			id, err := notifyID(argv[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			n, err := a.notifier(ctx)
			if err != nil {
				return err
			}
			store, err := a.notifications(ctx)
			if err != nil {
				return err
			}
			s, err := store.Subscription(ctx, id)
			if err != nil {
				return err
			}
			if err := n.Send(ctx, s, notify.TestEvent(s, a.now())); err != nil {
				return fmt.Errorf("notify test: %w", err)
			}
			fmt.Fprintf(a.stdout, "sent a test event to %s\n", s)
			return nil
		},
	}
}

// smtpTLS, when not nil, is the TLS configuration email is sent with
// instead of the system's roots. Only tests set it, to trust the
// certificate of the SMTP server they start (internal/smtptest), as the
// notify package's tests give notify.Mailer its TLS; it adds a CA and
// never turns verification off.
var smtpTLS *tls.Config
