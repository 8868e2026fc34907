package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/conformance"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// sshServer is a minimal OpenSSH-like server in front of the simulator's
// device model: each exec request runs the command line on the machine, as
// Windows OpenSSH hands it to cmd.exe.
func sshServer(t *testing.T, m *device.Machine, user, pass string) (addr string, hostKey ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
		if c.User() == user && string(p) == pass {
			return nil, nil
		}
		return nil, ssh.ErrNoAuth
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveConn(conn, cfg, m)
		}
	}()
	return ln.Addr().String(), signer.PublicKey()
}

func serveConn(conn net.Conn, cfg *ssh.ServerConfig, m *device.Machine) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			defer ch.Close()
			for req := range chReqs {
				if req.Type != "exec" || len(req.Payload) < 4 {
					_ = req.Reply(false, nil)
					continue
				}
				n := binary.BigEndian.Uint32(req.Payload)
				line := string(req.Payload[4 : 4+n])
				_ = req.Reply(true, nil)
				p := m.Start(line, nil)
				ctx, cancel := context.WithCancel(context.Background())
				go func() { // the client hung up: stop the command
					for range chReqs {
					}
					cancel()
					p.Terminate()
				}()
				for {
					out, exited, code := p.Read(ctx)
					for _, c := range out {
						if c.Stream == "stderr" {
							_, _ = ch.Stderr().Write(c.Data)
						} else {
							_, _ = ch.Write(c.Data)
						}
					}
					if exited {
						status := make([]byte, 4)
						binary.BigEndian.PutUint32(status, uint32(int32(code)))
						_, _ = ch.SendRequest("exit-status", false, status)
						cancel()
						return
					}
					if ctx.Err() != nil {
						return
					}
				}
			}
		}()
	}
}

func TestConformance(t *testing.T) {
	m := device.New(device.Spec{Hostname: "pc1.rxx.nhs.uk", Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
		Build: "10.0.19045", UBR: 3803, KBs: []string{"KB5034441"}, DiskFreeGB: 40, RAMGB: 8, Manufacturer: "Dell Inc.", Model: "OptiPlex 7090"},
		device.NewScaledClock(time.Now(), 1), device.DefaultMedia)
	addr, key := sshServer(t, m, "admin", "Ssh-Pa55")
	good := sdk.Target{Hostname: "pc1.rxx.nhs.uk", Address: addr, Username: "admin", Password: "Ssh-Pa55", ConnectTimeout: 5 * time.Second,
		Options: map[string]string{"known_hosts": knownhosts.Line([]string{addr}, key)}}
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
