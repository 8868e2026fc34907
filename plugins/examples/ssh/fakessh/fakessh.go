// Package fakessh is a minimal OpenSSH-like server in front of a simulated
// Windows device (plugins/sdk/testdevice): each exec request's command
// line runs on the device as the Windows OpenSSH server hands it to
// cmd.exe, its output streams back and its exit code ends the session. It
// is the SSH example plugin's test device, for its own tests and for
// ringmaster plugin test.
package fakessh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

// Server is a running fake SSH server.
type Server struct {
	ln  net.Listener
	key ssh.PublicKey
	wg  sync.WaitGroup
}

// Start serves dev on a loopback port, accepting the password logon of
// user with pass.
func Start(dev *testdevice.Device, user, pass string) (*Server, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(c ssh.ConnMetadata, p []byte) (*ssh.Permissions, error) {
		if c.User() == user && string(p) == pass {
			return nil, nil
		}
		return nil, fmt.Errorf("password rejected for %s", c.User())
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, key: signer.PublicKey()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serveConn(conn, cfg, dev)
		}
	}()
	return s, nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// KnownHosts is the server's host key as a known_hosts line, for the
// executor's known_hosts option.
func (s *Server) KnownHosts() string { return knownhosts.Line([]string{s.Addr()}, s.key) }

// Close stops accepting connections.
func (s *Server) Close() {
	s.ln.Close()
	s.wg.Wait()
}

func serveConn(conn net.Conn, cfg *ssh.ServerConfig, dev *testdevice.Device) {
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
		go serveSession(ch, chReqs, dev)
	}
}

// serveSession runs the session's exec request on the device until it
// exits or the client hangs up.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, dev *testdevice.Device) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		n := binary.BigEndian.Uint32(req.Payload)
		if int(n) > len(req.Payload)-4 {
			_ = req.Reply(false, nil)
			continue
		}
		line := string(req.Payload[4 : 4+n])
		_ = req.Reply(true, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() { // the client hung up: stop the command
			for range reqs {
			}
			cancel()
		}()
		res, err := dev.RunLine(ctx, line, nil, func(c sdk.Chunk) {
			if c.Stream == sdk.Stderr {
				_, _ = ch.Stderr().Write(c.Data)
			} else {
				_, _ = ch.Write(c.Data)
			}
		})
		cancel()
		if err != nil {
			return
		}
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, uint32(int32(res.ExitCode)))
		_, _ = ch.SendRequest("exit-status", false, status)
		return
	}
}
