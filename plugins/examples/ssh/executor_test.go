package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ringmaster-fleet/ringmaster/plugins/examples/ssh/fakessh"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

func TestConformance(t *testing.T) {
	srv, err := fakessh.Start(testdevice.New(testdevice.Spec{Hostname: "pc1.rxx.nhs.uk"}), "admin", "Ssh-Pa55")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	addr := srv.Addr()
	good := sdk.Target{Hostname: "pc1.rxx.nhs.uk", Address: addr, Username: "admin", Password: "Ssh-Pa55", ConnectTimeout: 5 * time.Second,
		Options: map[string]string{"known_hosts": srv.KnownHosts()}}
	bad, unreachable := good, good
	bad.Password = "wrong-ssh-password"
	unreachable.Address = "127.0.0.1:1"
	conformance.Run(t, conformance.Harness{Executor: New(), Target: good, Unreachable: unreachable, BadCredentials: bad})

	// A host key that is not the known one is refused as a trust failure.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	wrongKey := good
	wrongKey.Options = map[string]string{"known_hosts": knownhosts.Line([]string{addr}, otherSigner.PublicKey())}
	if _, err := New().Exec(context.Background(), wrongKey, sdk.Command{Shell: sdk.Cmd, Script: "hostname"}, nil); !sdk.IsKind(err, sdk.TLS) {
		t.Fatalf("unknown host key: kind %q (%v), want tls", sdk.KindOf(err), err)
	}
}
