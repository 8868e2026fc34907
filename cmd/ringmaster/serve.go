package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/ringmaster-fleet/ringmaster/metrics"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/server"
)

func newServeCmd(a *app) *cobra.Command {
	var (
		listen, certFile, keyFile string
		oidcFile, playbookDir     string
		insecure, runCampaigns    bool
		o                         targetFlags
		workers                   int
		maxUpload                 int64
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API to every organisation's teams",
		Long: `Serve the JSON API (its OpenAPI document at /openapi.json) on the same
database as the CLI. Callers present an API token (ringmaster token create)
as a bearer token; its role and scope bound what they read and change, and
every change is recorded in the audit trail (ringmaster audit).

It serves TLS when given a certificate and key. Plain HTTP is served on a
loopback address only, unless --insecure-http says otherwise (behind a proxy that
terminates TLS on the same host).

River's web UI, the job queue's jobs and queues, is served under /river/
to admins whose scope is the whole estate; what they change there is
recorded in the audit trail.

With --run-campaigns (the default) this process also runs the campaigns,
as ringmaster run does; turn it off where other nodes run them.

A campaign created through the API names its playbook: a built-in one, or
NAME.yaml in --playbook-dir. The server reads no other file a caller names.`,
		Example: "  ringmaster serve\n  ringmaster serve --listen :8443 --tls-cert server.crt --tls-key server.key\n  ringmaster serve --run-campaigns=false",
		Args:    args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxUpload < 1 {
				return usagef("--max-upload %d: want a positive number of bytes", maxUpload)
			}
			if (certFile == "") != (keyFile == "") {
				return usagef("--tls-cert and --tls-key: give both or neither")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ln, err := listenAPI(listen, certFile, keyFile, insecure)
			if err != nil {
				return err
			}
			defer ln.Close()
			lib := builtin.Library{Dir: playbookDir, Limit: a.fileLimit()}
			if _, err := lib.List(); err != nil {
				return usagef("--playbook-dir: %v", err)
			}
			cs, err := a.campaignAppWith(ctx, lib.Source)
			if err != nil {
				return err
			}
			m := metrics.New(cs, a.log)
			ui, err := a.riverUI(ctx)
			if err != nil {
				return err
			}
			api, err := a.apiServer(ctx, server.Config{Campaigns: cs, Playbooks: lib, Metrics: m, River: ui, MaxUpload: maxUpload})
			if err != nil {
				return err
			}
			if oidcFile != "" {
				src, err := a.fileLimit().ReadFile(oidcFile)
				if err != nil {
					return err
				}
				c, err := server.ParseOIDC(oidcFile, src)
				if err != nil {
					return err
				}
				if err := api.EnableOIDC(ctx, *c); err != nil {
					return err
				}
			}
			srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: nil}
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			fmt.Fprintf(a.stdout, "serving the API at %s://%s/api/v1/ (OpenAPI at /openapi.json), the dashboard at %s/, River's UI at %s/ for admins of the estate\n",
				scheme, ln.Addr(), server.UIPath, server.RiverPath)
			g, ctx := errgroup.WithContext(ctx)
			g.Go(func() error { // stopped with the rest, never failing it
				api.Warm(ctx)
				return nil
			})
			g.Go(func() error {
				if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					return fmt.Errorf("serve the API: %w", err)
				}
				return nil
			})
			g.Go(func() error {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				return srv.Shutdown(shut)
			})
			if runCampaigns {
				g.Go(func() error {
					return a.runCampaigns(ctx, runOptions{targets: o, workers: workers, lease: 30 * time.Second, metrics: m})
				})
			}
			return g.Wait()
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8420", "address to listen on")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); with --tls-key, serve HTTPS")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	cmd.Flags().StringVar(&oidcFile, "oidc", "", "sign people in with OpenID Connect as this file (YAML) says: issuer, client, and the rules giving roles and scopes from claims")
	cmd.Flags().StringVar(&playbookDir, "playbook-dir", "", "offer the playbooks NAME.yaml in this directory besides the built-in ones (callers name playbooks; the server reads no path a caller gives)")
	cmd.Flags().Int64Var(&maxUpload, "max-upload", server.DefaultMaxUpload, "largest inventory file a caller may send to import, in bytes")
	cmd.Flags().BoolVar(&insecure, "insecure-http", false, "serve plain HTTP on an address that is not loopback")
	cmd.Flags().BoolVar(&runCampaigns, "run-campaigns", true, "also run the campaigns in this process (as ringmaster run)")
	cmd.Flags().IntVar(&workers, "workers", 50, "devices this process runs at once, with --run-campaigns")
	o.register(cmd)
	return cmd
}

// listenAPI listens on addr: TLS with a certificate, else plain HTTP on a
// loopback address (or anywhere with insecure).
func listenAPI(addr, certFile, keyFile string, insecure bool) (net.Listener, error) {
	if certFile == "" && !insecure {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, usagef("--listen %q: %v", addr, err)
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, usagef("--listen %s: plain HTTP is served on a loopback address only: give --tls-cert and --tls-key, or --insecure-http behind a proxy that terminates TLS", addr)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if certFile == "" {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}
