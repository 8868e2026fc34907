package winrm_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
)

// TestKeptConnections checks which operations reuse the connection an
// earlier one authenticated: only those on the very same target and
// credentials, and only after an operation that went well.
func TestKeptConnections(t *testing.T) {
	f := fleet(t, fleetsim.Config{})
	hostname := sdk.Command{Shell: sdk.Cmd, Script: "hostname"}
	for _, tc := range []struct {
		name string
		opts winrm.Options
		// second is the target of the second operation, from the first's.
		second    func(first sdk.Target) sdk.Target
		firstCmd  sdk.Command
		wantKind  sdk.Kind // of the second operation's error; "" for none
		wantDials int64
	}{
		{name: "same target", second: same, firstCmd: hostname, wantDials: 1},
		{name: "after a command that failed", second: same, firstCmd: sdk.Command{Shell: sdk.Cmd, Script: "exit 3"}, wantDials: 1},
		{name: "another device", second: func(sdk.Target) sdk.Target { return target(f, 1, false, "ntlm") }, firstCmd: hostname, wantDials: 2},
		{name: "wrong password is not served by the authenticated connection", firstCmd: hostname, wantKind: sdk.AuthFailed, wantDials: 2,
			second: func(t sdk.Target) sdk.Target { t.Password = "not-" + t.Password; return t }},
		{name: "another user", firstCmd: hostname, wantKind: sdk.AuthFailed, wantDials: 2,
			second: func(t sdk.Target) sdk.Target { t.Username = "someone-else"; return t }},
		{name: "keeping off", opts: winrm.Options{IdleTimeout: -1}, second: same, firstCmd: hostname, wantDials: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := winrm.New(tc.opts)
			defer x.CloseIdle()
			ctx := context.Background()
			first := target(f, 0, false, "ntlm")
			if _, err := x.Exec(ctx, first, tc.firstCmd, nil); err != nil && !sdk.IsKind(err, sdk.CommandFailed) {
				t.Fatal(err)
			}
			res, err := x.Exec(ctx, tc.second(first), hostname, nil)
			switch {
			case tc.wantKind == "" && err != nil:
				t.Fatalf("second operation: %v", err)
			case tc.wantKind == "" && len(res.Stdout) == 0:
				t.Fatal("second operation: no output")
			case tc.wantKind != "" && !sdk.IsKind(err, tc.wantKind):
				t.Fatalf("second operation: err %v, want kind %s", err, tc.wantKind)
			}
			if got := winrm.Dials(x); got != tc.wantDials {
				t.Errorf("%d connections opened, want %d", got, tc.wantDials)
			}
		})
	}
}

func same(t sdk.Target) sdk.Target { return t }

// TestKeptConnectionClosedByHost checks that an operation whose kept
// connection the host closed before answering anything of it runs again
// on a new connection, and that one that was answered, or had a new
// connection to begin with, is not run again.
func TestKeptConnectionClosedByHost(t *testing.T) {
	f := fleet(t, fleetsim.Config{})
	hostname := sdk.Command{Shell: sdk.Cmd, Script: "hostname"}
	for _, tc := range []struct {
		name string
		// warm runs an operation first, so the second finds a kept connection.
		warm bool
		// dropAfter is how many requests of the measured operation reach
		// the device before the proxy closes the connection on the next.
		dropAfter int64
		wantKind  sdk.Kind
		// wantDials counts the connections the operation opened: the run
		// again's, or the one the shell's deletion after a failure opens.
		wantDials int64
	}{
		{name: "kept connection closed before its first answer: run again", warm: true, dropAfter: 0, wantDials: 1},
		{name: "kept connection closed after an answer: not run again", warm: true, dropAfter: 1, wantKind: sdk.Unreachable, wantDials: 1},
		{name: "new connection closed: not run again", dropAfter: 0, wantKind: sdk.Unreachable, wantDials: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newDropProxy(t, f.Endpoints()[0].Address(false))
			x := winrm.New(winrm.Options{})
			defer x.CloseIdle()
			ctx := context.Background()
			tg := target(f, 0, false, "ntlm")
			tg.Address = p.addr
			if tc.warm {
				if _, err := x.Exec(ctx, tg, hostname, nil); err != nil {
					t.Fatal(err)
				}
				if winrm.Kept(x) != 1 {
					t.Fatalf("%d sessions kept after an operation, want 1", winrm.Kept(x))
				}
			}
			dials := winrm.Dials(x)
			p.dropAfter(tc.dropAfter)
			_, err := x.Exec(ctx, tg, hostname, nil)
			switch {
			case tc.wantKind == "" && err != nil:
				t.Fatalf("operation: %v", err)
			case tc.wantKind != "" && !sdk.IsKind(err, tc.wantKind):
				t.Fatalf("operation: err %v, want kind %s", err, tc.wantKind)
			}
			if got := winrm.Dials(x) - dials; got != tc.wantDials {
				t.Errorf("%d connections opened, want %d", got, tc.wantDials)
			}
			if tc.wantKind != "" && winrm.Kept(x) != 0 {
				t.Errorf("%d sessions kept after a failed operation, want none", winrm.Kept(x))
			}
		})
	}
}

// dropProxy forwards connections to a device; armed, it lets a number of
// client writes through on one connection (the next to write), then
// closes that connection instead of forwarding the next write: a host
// that went away with the request unanswered.
type dropProxy struct {
	addr  string
	armed atomic.Bool
	after atomic.Int64
}

func newDropProxy(t *testing.T, to string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.serve(c, to)
			}()
		}
	}()
	return p
}

func (p *dropProxy) dropAfter(n int64) {
	p.after.Store(n)
	p.armed.Store(true)
}

func (p *dropProxy) serve(c net.Conn, to string) {
	defer c.Close()
	d, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer d.Close()
	go func() { _, _ = io.Copy(c, d) }()
	buf := make([]byte, 64<<10)
	var last []byte // the request being read: forwarded once it is whole
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		last = append(last[:0], buf[:n]...)
		if p.armed.Load() {
			if p.after.Load() == 0 {
				p.armed.Store(false)
				return // closes both sides, the request unforwarded
			}
			p.after.Add(-1)
		}
		if _, err := d.Write(last); err != nil {
			return
		}
	}
}
