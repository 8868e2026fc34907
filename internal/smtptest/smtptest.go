// Package smtptest is a minimal SMTP server for tests, speaking enough of
// RFC 5321 for a client that sends one message per connection: EHLO/HELO,
// STARTTLS (RFC 3207) with a certificate made for the test, AUTH PLAIN
// (RFC 4954), MAIL, RCPT, DATA (with dot-unstuffing), RSET, NOOP and QUIT.
// It keeps every message it accepts.
package smtptest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data string // as sent, dot-unstuffed, CRLF line ends
	TLS  bool   // sent after STARTTLS
	User string // who authenticated ("" for nobody)
}

// Options configure a Server.
type Options struct {
	NoTLS    bool   // offer no STARTTLS
	User     string // AUTH PLAIN user (with Password); "" offers no AUTH
	Password string
}

// Server is a running test SMTP server.
type Server struct {
	Addr  string         // host:port
	Roots *x509.CertPool // trusts its certificate

	opts Options
	cert tls.Certificate
	ln   net.Listener
	mu   sync.Mutex
	msgs []Message
	wg   sync.WaitGroup
	got  chan struct{}
}

// Start starts a server on 127.0.0.1, stopped when t ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts, ln: ln, got: make(chan struct{}, 1024)}
	s.cert, s.Roots = certificate(t)
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Messages returns the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait waits until n messages are accepted, or within passes, and
// returns those accepted.
func (s *Server) Wait(n int, within time.Duration) []Message {
	deadline := time.After(within)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			return s.Messages()
		}
	}
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
		}()
	}
}

func (s *Server) session(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck // a test's bound
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\r\n") //nolint:errcheck // flushed below
		}
		w.Flush() //nolint:errcheck // the client sees a closed connection
	}
	var m Message
	secure := false
	reply("220 smtptest ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"250-smtptest", "250-8BITMIME"}
			if !s.opts.NoTLS && !secure {
				ext = append(ext, "250-STARTTLS")
			}
			if s.opts.User != "" {
				ext = append(ext, "250-AUTH PLAIN")
			}
			ext[len(ext)-1] = "250 " + ext[len(ext)-1][4:]
			reply(ext...)
		case "HELO":
			reply("250 smtptest")
		case "STARTTLS":
			if s.opts.NoTLS || secure {
				reply("502 not offered")
				continue
			}
			reply("220 go ahead")
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12})
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure, m = tc, true, Message{}
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if !strings.EqualFold(mech, "PLAIN") || err != nil || len(parts) != 3 || parts[1] != s.opts.User || parts[2] != s.opts.Password {
				reply("535 authentication failed")
				continue
			}
			m.User = parts[1]
			reply("235 authenticated")
		case "MAIL":
			if s.opts.User != "" && m.User == "" {
				reply("530 authentication required")
				continue
			}
			m.From = path(arg)
			reply("250 ok")
		case "RCPT":
			m.To = append(m.To, path(arg))
			reply("250 ok")
		case "DATA":
			if m.From == "" || len(m.To) == 0 {
				reply("503 bad sequence")
				continue
			}
			reply("354 end with .")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data, m.TLS = data.String(), secure
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			s.got <- struct{}{}
			m = Message{User: m.User}
			reply("250 accepted")
		case "RSET":
			m = Message{User: m.User}
			reply("250 ok")
		case "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("500 unknown command")
		}
	}
}

// path is the address in a MAIL FROM:<a> or RCPT TO:<a> argument, its
// parameters (BODY=8BITMIME) after it.
func path(arg string) string {
	_, a, _ := strings.Cut(arg, "<")
	a, _, _ = strings.Cut(a, ">")
	return a
}

// certificate makes a self-signed certificate for 127.0.0.1 and localhost.
func certificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
