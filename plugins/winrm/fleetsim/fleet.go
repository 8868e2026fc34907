package fleetsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/wsman"
)

// Standard WinRM listener ports.
const (
	HTTPPort  = 5985
	HTTPSPort = 5986
)

// Config describes a simulated fleet.
type Config struct {
	Devices            []device.Spec
	Username, Password string // the credentials every device accepts
	HTTPS              bool   // also listen on 5986 with a certificate from the fleet's CA
	Faults             FaultSpec
	Seed               uint64
	Clock              device.Clock // default: real time
	Media              device.Media // what setup.exe installs; default device.DefaultMedia
	Quotas             wsman.Quotas
	Logger             *slog.Logger
	// IdleConnTimeout closes keep-alive connections idle this long (default
	// 120 s, HTTP.sys's default on Windows). Every idle connection holds a
	// file descriptor beside each device's listener, so a large fleet
	// driven by many clients may want it shorter.
	IdleConnTimeout time.Duration
	// FirstAddress is the loopback address of the first device (default
	// 127.1.1.1); the others follow it. Two fleets on one machine need
	// ranges that do not overlap.
	FirstAddress net.IP
}

// Fleet is a running simulated estate: one WinRM endpoint per device, each
// on its own loopback address (127.x.y.z) and the standard ports.
type Fleet struct {
	cfg       Config
	ca        *CA
	endpoints []*Endpoint
	byIP      map[string]*Endpoint
	httpSrv   *http.Server
	httpsSrv  *http.Server
	control   *http.Server
	controlLn net.Listener
	wg        sync.WaitGroup
	closed    atomic.Bool
}

// Endpoint is one simulated device and its listeners.
type Endpoint struct {
	Machine *device.Machine
	IP      net.IP
	Faults  map[string]bool

	fleet    *Fleet
	server   *wsman.Server
	creds    *wsman.Credentials
	requests atomic.Int64

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	dropped   map[string]bool // commands whose first Receive was dropped
	cert      *tls.Certificate
}

// Address returns host:port of the endpoint's HTTP (or HTTPS) listener.
func (e *Endpoint) Address(https bool) string {
	port := HTTPPort
	if https {
		port = HTTPSPort
	}
	return net.JoinHostPort(e.IP.String(), fmt.Sprint(port))
}

// Server is the endpoint's WS-Management server (for tests).
func (e *Endpoint) Server() *wsman.Server { return e.server }

// addressFor is the i-th loopback address of the scheme: 127.x.y.z with
// x, y and z in 1..254, from 127.1.1.1 up, so it never collides with
// 127.0.0.1 and never ends in .0 or .255.
func addressFor(i int) net.IP {
	return net.IPv4(127, byte(1+i/(254*254)), byte(1+(i/254)%254), byte(1+i%254))
}

// AddressIndex is the position of a loopback address in the scheme, or an
// error for one outside it.
func AddressIndex(ip net.IP) (int, error) {
	v4 := ip.To4()
	if v4 == nil || v4[0] != 127 || v4[1] < 1 || v4[1] > 254 || v4[2] < 1 || v4[2] > 254 || v4[3] < 1 || v4[3] > 254 {
		return 0, fmt.Errorf("%s is not a simulator address (127.x.y.z, each of x, y, z in 1..254)", ip)
	}
	return int(v4[1]-1)*254*254 + int(v4[2]-1)*254 + int(v4[3]-1), nil
}

// MaxDevices is how many addresses the scheme provides.
const MaxDevices = 254 * 254 * 254

type ctxKey struct{}

// Start brings the fleet up: every endpoint listens before it returns.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if len(cfg.Devices) == 0 {
		return nil, errors.New("fleetsim: no devices")
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("fleetsim: a username and a password are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = device.NewScaledClock(time.Now(), 1)
	}
	if cfg.Media.Build == "" {
		cfg.Media = device.DefaultMedia
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleConnTimeout <= 0 {
		cfg.IdleConnTimeout = 120 * time.Second
	}
	if cfg.Faults.Latency <= 0 {
		cfg.Faults.Latency = 500 * time.Millisecond
	}
	first := 0
	if cfg.FirstAddress != nil {
		var err error
		if first, err = AddressIndex(cfg.FirstAddress); err != nil {
			return nil, fmt.Errorf("fleetsim: %w", err)
		}
	}
	if first+len(cfg.Devices) > MaxDevices {
		return nil, fmt.Errorf("fleetsim: %d devices from %s run past the end of 127.0.0.0/8", len(cfg.Devices), cfg.FirstAddress)
	}
	f := &Fleet{cfg: cfg, byIP: make(map[string]*Endpoint, len(cfg.Devices))}
	var err error
	if f.ca, err = NewCA(time.Now()); err != nil {
		return nil, err
	}
	connContext := func(c context.Context, conn net.Conn) context.Context {
		host, _, _ := net.SplitHostPort(conn.LocalAddr().String())
		ep := f.byIP[host]
		if ep != nil {
			ep.track(conn, true)
		}
		return context.WithValue(c, ctxKey{}, ep)
	}
	connState := func(conn net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			host, _, _ := net.SplitHostPort(conn.LocalAddr().String())
			if ep := f.byIP[host]; ep != nil {
				ep.track(conn, false)
				ep.creds.ConnState(conn, st)
			}
		}
	}
	handler := http.HandlerFunc(f.serve)
	errLog := slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug)
	f.httpSrv = &http.Server{Handler: handler, ConnContext: connContext, ConnState: connState, ErrorLog: errLog,
		ReadHeaderTimeout: 30 * time.Second, IdleTimeout: cfg.IdleConnTimeout}
	f.httpsSrv = &http.Server{Handler: handler, ConnContext: connContext, ConnState: connState, ErrorLog: errLog,
		ReadHeaderTimeout: 30 * time.Second, IdleTimeout: cfg.IdleConnTimeout,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: f.certificate}}

	faults := cfg.Faults.assign(len(cfg.Devices), cfg.Seed)
	for i, spec := range cfg.Devices {
		if faults[i][FaultCompat] {
			spec.Behaviour.CompatBlock = true
		}
		if faults[i][FaultRollback] {
			spec.Behaviour.RollBack = true
		}
		if faults[i][FaultHang] {
			spec.Behaviour.RebootHangs = true
		}
		if faults[i][FaultLowDisk] && spec.DiskFreeGB >= 20 {
			spec.DiskFreeGB = float64(int(spec.DiskFreeGB) % 12)
		}
		ep := &Endpoint{Machine: device.New(spec, cfg.Clock, cfg.Media), IP: addressFor(first + i), Faults: faults[i], fleet: f,
			conns: map[net.Conn]struct{}{}, dropped: map[string]bool{}}
		password := cfg.Password
		if faults[i][FaultBadCreds] {
			password = cfg.Password + "-rotated"
		}
		ep.creds = &wsman.Credentials{Username: cfg.Username, Password: password, Computer: ep.Machine.Name()}
		ep.server = wsman.NewServer(hostAdapter{ep.Machine}, ep.creds,
			wsman.Options{Quotas: cfg.Quotas, Now: cfg.Clock.Now, Logger: cfg.Logger})
		ep.Machine.OnPower(ep.power)
		f.endpoints = append(f.endpoints, ep)
		f.byIP[ep.IP.String()] = ep
	}
	for _, ep := range f.endpoints {
		if ep.Faults[FaultUnreachable] {
			continue
		}
		if err := ep.listen(); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// Endpoints lists the devices in order.
func (f *Fleet) Endpoints() []*Endpoint { return f.endpoints }

// CACertPEM is the certificate clients trust to verify HTTPS endpoints.
func (f *Fleet) CACertPEM() []byte { return f.ca.CertPEM() }

// DeviceTruth is one device's ground truth, with where it listens and the
// faults it was seeded with.
type DeviceTruth struct {
	device.Truth
	Address string   `json:"address"`
	Faults  []string `json:"faults"`
}

// Truth is what has really happened on every device.
func (f *Fleet) Truth() []DeviceTruth {
	out := make([]DeviceTruth, len(f.endpoints))
	for i, ep := range f.endpoints {
		out[i] = DeviceTruth{Truth: ep.Machine.Truth(), Address: ep.IP.String(), Faults: []string{}}
		for _, k := range faultKinds {
			if ep.Faults[k] {
				out[i].Faults = append(out[i].Faults, k)
			}
		}
	}
	return out
}

// ServeControl starts the control API on addr ("127.0.0.1:0" picks a
// port): GET /truth returns the ground truth as JSON. It returns the address.
func (f *Fleet) ServeControl(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("control endpoint: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /truth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.Truth())
	})
	mux.HandleFunc("GET /ca.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(f.CACertPEM())
	})
	f.control = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	f.controlLn = ln
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		_ = f.control.Serve(ln)
	}()
	return ln.Addr().String(), nil
}

// Close stops every listener and waits for the accept loops to end.
func (f *Fleet) Close() {
	if !f.closed.CompareAndSwap(false, true) {
		return
	}
	for _, ep := range f.endpoints {
		ep.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.httpSrv.Shutdown(ctx)
	_ = f.httpsSrv.Shutdown(ctx)
	if f.control != nil {
		_ = f.control.Shutdown(ctx)
	}
	f.wg.Wait()
}

func (f *Fleet) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host, _, _ := net.SplitHostPort(hello.Conn.LocalAddr().String())
	ep := f.byIP[host]
	if ep == nil {
		return nil, fmt.Errorf("no device at %s", host)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.cert == nil {
		cert, err := f.ca.Issue(ep.Machine.Hostname(), ep.IP, time.Now())
		if err != nil {
			return nil, err
		}
		ep.cert = &cert
	}
	return ep.cert, nil
}

// listen opens the endpoint's listeners (again, after a reboot).
func (ep *Endpoint) listen() error {
	f := ep.fleet
	if f.closed.Load() {
		return nil
	}
	ports := []int{HTTPPort}
	if f.cfg.HTTPS {
		ports = append(ports, HTTPSPort)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, port := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort(ep.IP.String(), fmt.Sprint(port)))
		if err != nil {
			return fmt.Errorf("device %s: listen: %w", ep.Machine.Hostname(), err)
		}
		ep.listeners = append(ep.listeners, ln)
		srv := f.httpSrv
		if port == HTTPSPort {
			srv = f.httpsSrv
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			_ = srv.Serve(ln)
		}()
	}
	return nil
}

// close shuts the listeners and every open connection: the machine is gone.
func (ep *Endpoint) close() {
	ep.mu.Lock()
	lns := ep.listeners
	ep.listeners = nil
	conns := ep.conns
	ep.conns = map[net.Conn]struct{}{}
	ep.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for c := range conns {
		c.Close()
	}
}

func (ep *Endpoint) track(c net.Conn, open bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if open {
		ep.conns[c] = struct{}{}
	} else {
		delete(ep.conns, c)
	}
}

// power follows the machine's reboots: down closes the endpoint and its
// shells, as a restarting Windows does; up listens again.
func (ep *Endpoint) power(up bool) {
	if !up {
		ep.close()
		ep.server.CloseAll()
		return
	}
	if err := ep.listen(); err != nil {
		ep.fleet.cfg.Logger.Error("endpoint did not come back", "device", ep.Machine.Hostname(), "err", err)
	}
}

// serve applies the endpoint's transport faults, then hands the request to
// its WS-Management server.
func (f *Fleet) serve(w http.ResponseWriter, r *http.Request) {
	ep, _ := r.Context().Value(ctxKey{}).(*Endpoint)
	if ep == nil {
		http.NotFound(w, r)
		return
	}
	n := ep.requests.Add(1)
	if ep.Faults[FaultSlow] {
		select {
		case <-time.After(f.cfg.Faults.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if ep.Faults[FaultHTTP500] && n%3 == 0 {
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if ep.Faults[FaultDrop] && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if id := receiveCommandID(body); id != "" {
			ep.mu.Lock()
			first := !ep.dropped[id]
			ep.dropped[id] = true
			ep.mu.Unlock()
			if first {
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
						return
					}
				}
			}
		}
	}
	if ep.Faults[FaultMalformed] && n%3 == 0 {
		rec := &truncating{ResponseWriter: w}
		ep.server.ServeHTTP(rec, r)
		rec.flush()
		return
	}
	ep.server.ServeHTTP(w, r)
}

// receiveCommandID returns the CommandId of a Receive request, or "".
func receiveCommandID(body []byte) string {
	if !bytes.Contains(body, []byte("/windows/shell/Receive<")) && !bytes.Contains(body, []byte("/windows/shell/Receive ")) {
		return ""
	}
	_, rest, ok := bytes.Cut(body, []byte(`CommandId="`))
	if !ok {
		return ""
	}
	id, _, _ := bytes.Cut(rest, []byte(`"`))
	return strings.ToUpper(string(id))
}

// truncating buffers a response and sends only its first half.
type truncating struct {
	http.ResponseWriter
	buf    bytes.Buffer
	status int
}

func (t *truncating) WriteHeader(code int)        { t.status = code }
func (t *truncating) Write(b []byte) (int, error) { return t.buf.Write(b) }
func (t *truncating) flush() {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	body := t.buf.Bytes()
	t.ResponseWriter.Header().Del("Content-Length")
	t.ResponseWriter.WriteHeader(t.status)
	_, _ = t.ResponseWriter.Write(body[:len(body)/2])
}

// hostAdapter presents a device.Machine as a wsman.Host.
type hostAdapter struct{ m *device.Machine }

func (h hostAdapter) Name() string { return h.m.Name() }

func (h hostAdapter) Start(command string, args []string) wsman.Process {
	return procAdapter{h.m.Start(command, args)}
}

type procAdapter struct{ p *device.Proc }

func (p procAdapter) Read(ctx context.Context) ([]wsman.Chunk, bool, int) {
	out, exited, code := p.p.Read(ctx)
	chunks := make([]wsman.Chunk, len(out))
	for i, c := range out {
		chunks[i] = wsman.Chunk{Stream: c.Stream, Data: c.Data}
	}
	return chunks, exited, code
}

func (p procAdapter) Input(data []byte, eof bool) { p.p.Input(data, eof) }
func (p procAdapter) Terminate()                  { p.p.Terminate() }
