package wsman

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHost runs "sleep" (never ends until terminated) and "echo X".
type fakeHost struct{}

func (fakeHost) Name() string { return "PC1" }

func (fakeHost) Start(cmd string, _ []string) Process {
	p := &fakeProc{done: make(chan struct{})}
	if rest, ok := strings.CutPrefix(cmd, "echo "); ok {
		p.out = []Chunk{{"stdout", []byte(rest)}}
		p.Terminate()
	}
	return p
}

type fakeProc struct {
	mu   sync.Mutex
	out  []Chunk
	done chan struct{}
	once sync.Once
}

func (p *fakeProc) Read(ctx context.Context) ([]Chunk, bool, int) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		out := p.out
		p.out = nil
		return out, true, 0
	case <-ctx.Done():
		return nil, false, 0
	}
}
func (p *fakeProc) Input([]byte, bool) {}
func (p *fakeProc) Terminate()         { p.once.Do(func() { close(p.done) }) }

type manualNow struct {
	mu sync.Mutex
	t  time.Time
}

func (m *manualNow) now() time.Time { m.mu.Lock(); defer m.mu.Unlock(); return m.t }
func (m *manualNow) add(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

func newTestServer(t *testing.T, q Quotas) (*httptest.Server, *Server, *manualNow) {
	clock := &manualNow{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	s := NewServer(fakeHost{}, Basic{Username: "admin", Password: "pw"}, Options{Quotas: q, Now: clock.now})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts, s, clock
}

const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">
<env:Header><a:To>%s</a:To><a:MessageID>uuid:11111111-2222-3333-4444-555555555555</a:MessageID>
<a:Action mustUnderstand="true">%s</a:Action><w:ResourceURI mustUnderstand="true">%s</w:ResourceURI>
<w:OperationTimeout>%s</w:OperationTimeout>%s</env:Header><env:Body>%s</env:Body></env:Envelope>`

type call struct {
	action, resource, timeout, shell, body string
}

func post(t *testing.T, ts *httptest.Server, user, pass string, c call) (int, string, http.Header) {
	t.Helper()
	if c.resource == "" {
		c.resource = ShellURI
	}
	if c.timeout == "" {
		c.timeout = "PT60S"
	}
	sel := ""
	if c.shell != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + c.shell + `</w:Selector></w:SelectorSet>`
	}
	msg := fmt.Sprintf(envelope, ts.URL+"/wsman", c.action, c.resource, c.timeout, sel, c.body)
	return postRaw(t, ts, user, pass, "application/soap+xml;charset=UTF-8", msg)
}

func postRaw(t *testing.T, ts *httptest.Server, user, pass, ctype, msg string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+"/wsman", strings.NewReader(msg))
	req.Header.Set("Content-Type", ctype)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const createBody = `<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`

var shellIDRE = regexp.MustCompile(`<w:Selector Name="ShellId">([0-9A-F-]+)</w:Selector>`)

func createShell(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	code, body, _ := post(t, ts, "admin", "pw", call{action: actionCreate, body: createBody})
	m := shellIDRE.FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("create: %d %s", code, body)
	}
	if !strings.Contains(body, "<rsp:ShellId>"+m[1]+"</rsp:ShellId>") || !strings.Contains(body, actionCreateResponse) {
		t.Fatalf("create response lacks rsp:Shell or its action: %s", body)
	}
	return m[1]
}

func faultCode(body string) string {
	m := regexp.MustCompile(`Code="(\d+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestAuthChallenge(t *testing.T) {
	ts, _, _ := newTestServer(t, Quotas{})
	for _, creds := range [][2]string{{"", ""}, {"admin", "nope"}, {"other", "pw"}} {
		code, body, h := post(t, ts, creds[0], creds[1], call{action: actionCreate, body: createBody})
		if code != 401 || body != "" {
			t.Errorf("%v: %d %q, want 401 and no body", creds, code, body)
		}
		if got := h.Values("WWW-Authenticate"); len(got) != 2 || got[0] != "Negotiate" || got[1] != `Basic realm="WSMAN"` {
			t.Errorf("%v: challenges %v", creds, got)
		}
	}
	if code, _, _ := post(t, ts, "ADMIN", "pw", call{action: actionCreate, body: createBody}); code != 200 {
		t.Errorf("user names are case-insensitive on Windows: got %d", code)
	}
}

func TestFaults(t *testing.T) {
	ts, _, _ := newTestServer(t, Quotas{})
	id := createShell(t, ts)
	tests := []struct {
		name     string
		c        call
		raw      string
		subcode  string
		wsmanErr string
	}{
		{"unknown shell", call{action: actionCommand, shell: "0179DFE0-5409-4F07-946E-54635608A269", body: `<rsp:CommandLine><rsp:Command>echo hi</rsp:Command></rsp:CommandLine>`}, "", "w:InvalidSelectors", "2150858843"},
		{"unknown action", call{action: "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Frobnicate", shell: id}, "", "a:ActionNotSupported", "2150858753"},
		{"unknown resource", call{action: actionCreate, resource: "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service", body: createBody}, "", "w:DestinationUnreachable", "2150858752"},
		{"malformed envelope", call{}, "<env:Envelope><unclosed>", "w:SchemaValidationError", "2150858817"},
		{"not an envelope", call{}, "<hello/>", "w:SchemaValidationError", "2150858817"},
		{"unknown command", call{action: actionReceive, shell: id, body: `<rsp:Receive><rsp:DesiredStream CommandId="AAAAAAAA-0000-0000-0000-000000000000">stdout stderr</rsp:DesiredStream></rsp:Receive>`}, "", "w:InvalidParameter", "2150859085"},
		{"bad signal", call{action: actionSignal, shell: id, body: `<rsp:Signal CommandId="X"><rsp:Code>kill</rsp:Code></rsp:Signal>`}, "", "w:InvalidParameter", "2150859085"},
	}
	for _, tt := range tests {
		var code int
		var body string
		if tt.raw != "" {
			code, body, _ = postRaw(t, ts, "admin", "pw", "application/soap+xml;charset=UTF-8", tt.raw)
		} else {
			code, body, _ = post(t, ts, "admin", "pw", tt.c)
		}
		if code != 500 || !strings.Contains(body, "<s:Value>"+tt.subcode+"</s:Value>") || faultCode(body) != tt.wsmanErr {
			t.Errorf("%s: %d, subcode/code not %s/%s:\n%s", tt.name, code, tt.subcode, tt.wsmanErr, body)
		}
		if tt.raw == "" && !strings.Contains(body, "<a:RelatesTo>uuid:11111111-2222-3333-4444-555555555555</a:RelatesTo>") {
			t.Errorf("%s: fault does not relate to the request", tt.name)
		}
	}
	if code, _, _ := postRaw(t, ts, "admin", "pw", "text/xml", "<x/>"); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/xml: %d, want 415", code)
	}
}

func TestCommandLifecycle(t *testing.T) {
	ts, s, _ := newTestServer(t, Quotas{})
	id := createShell(t, ts)
	_, body, _ := post(t, ts, "admin", "pw", call{action: actionCommand, shell: id, body: `<rsp:CommandLine><rsp:Command><![CDATA[echo héllo & <world>]]></rsp:Command></rsp:CommandLine>`})
	cmd := regexp.MustCompile(`<rsp:CommandId>([0-9A-F-]+)</rsp:CommandId>`).FindStringSubmatch(body)
	if cmd == nil {
		t.Fatalf("command: %s", body)
	}
	recv := `<rsp:Receive><rsp:DesiredStream CommandId="` + cmd[1] + `">stdout stderr</rsp:DesiredStream></rsp:Receive>`
	code, body, _ := post(t, ts, "admin", "pw", call{action: actionReceive, shell: id, body: recv})
	want := base64.StdEncoding.EncodeToString([]byte("héllo & <world>"))
	if code != 200 || !strings.Contains(body, `<rsp:Stream Name="stdout" CommandId="`+cmd[1]+`">`+want+`</rsp:Stream>`) ||
		!strings.Contains(body, `State="`+stateDone+`"><rsp:ExitCode>0</rsp:ExitCode>`) {
		t.Fatalf("receive: %d %s", code, body)
	}
	// A command that never ends: Receive times out with w:TimedOut, Signal stops it.
	_, body, _ = post(t, ts, "admin", "pw", call{action: actionCommand, shell: id, body: `<rsp:CommandLine><rsp:Command>sleep</rsp:Command></rsp:CommandLine>`})
	cmd = regexp.MustCompile(`<rsp:CommandId>([0-9A-F-]+)</rsp:CommandId>`).FindStringSubmatch(body)
	recv = `<rsp:Receive><rsp:DesiredStream CommandId="` + cmd[1] + `">stdout stderr</rsp:DesiredStream></rsp:Receive>`
	code, body, _ = post(t, ts, "admin", "pw", call{action: actionReceive, shell: id, timeout: "PT0.200S", body: recv})
	if code != 500 || !strings.Contains(body, "w:TimedOut") || faultCode(body) != "2150858793" || !strings.Contains(body, "OperationTimeout") {
		t.Fatalf("receive on a running command: %d %s", code, body)
	}
	sig := `<rsp:Signal CommandId="` + cmd[1] + `"><rsp:Code>` + signalTerminate + `</rsp:Code></rsp:Signal>`
	if code, body, _ = post(t, ts, "admin", "pw", call{action: actionSignal, shell: id, body: sig}); code != 200 || !strings.Contains(body, "SignalResponse") {
		t.Fatalf("signal: %d %s", code, body)
	}
	if code, body, _ = post(t, ts, "admin", "pw", call{action: actionDelete, shell: id}); code != 200 || !strings.Contains(body, actionDeleteResponse) {
		t.Fatalf("delete: %d %s", code, body)
	}
	if s.Shells() != 0 {
		t.Fatal("shell still open after Delete")
	}
	if code, _, _ = post(t, ts, "admin", "pw", call{action: actionDelete, shell: id}); code != 500 {
		t.Fatalf("second delete: %d", code)
	}
}

func TestQuotas(t *testing.T) {
	ts, s, clock := newTestServer(t, Quotas{MaxShellsPerUser: 3, IdleTimeout: time.Minute})
	for range 3 {
		createShell(t, ts)
	}
	code, body, _ := post(t, ts, "admin", "pw", call{action: actionCreate, body: createBody})
	if code != 500 || faultCode(body) != "2150859173" || !strings.Contains(body, "maximum number of 3 concurrent shells") {
		t.Fatalf("fourth shell: %d %s", code, body)
	}
	// Idle shells are closed after the idle timeout, freeing the quota.
	clock.add(2 * time.Minute)
	if s.Shells() != 0 {
		t.Fatalf("%d idle shells survived the idle timeout", s.Shells())
	}
	createShell(t, ts)

	// Concurrent operations: with a quota of 2, a third simultaneous
	// (long-polling) Receive is refused.
	ts2, s2, _ := newTestServer(t, Quotas{MaxConcurrentOperationsPerUser: 2})
	id := createShell(t, ts2)
	_, body, _ = post(t, ts2, "admin", "pw", call{action: actionCommand, shell: id, body: `<rsp:CommandLine><rsp:Command>sleep</rsp:Command></rsp:CommandLine>`})
	cmd := regexp.MustCompile(`<rsp:CommandId>([0-9A-F-]+)</rsp:CommandId>`).FindStringSubmatch(body)[1]
	recv := `<rsp:Receive><rsp:DesiredStream CommandId="` + cmd + `">stdout stderr</rsp:DesiredStream></rsp:Receive>`
	// Two long-polling Receives in flight, on a context ended once the
	// third has been answered. Goroutines report through errs, never t.
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			req, err := http.NewRequestWithContext(ctx, "POST", ts2.URL+"/wsman",
				strings.NewReader(fmt.Sprintf(envelope, ts2.URL+"/wsman", actionReceive, ShellURI, "PT60S",
					`<w:SelectorSet><w:Selector Name="ShellId">`+id+`</w:Selector></w:SelectorSet>`, recv)))
			if err != nil {
				errs <- err
				return
			}
			req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
			req.SetBasicAuth("admin", "pw")
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("a long-polling receive was answered (%d) before it was cancelled", resp.StatusCode)
			} else if ctx.Err() != nil {
				err = nil
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for s2.Operations("admin") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for two receives in flight; %d are", s2.Operations("admin"))
		}
		time.Sleep(2 * time.Millisecond)
	}
	code, body, _ = post(t, ts2, "admin", "pw", call{action: actionReceive, shell: id, timeout: "PT1S", body: recv})
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if code != 500 || faultCode(body) != "2150859174" {
		t.Fatalf("third concurrent operation: %d %s", code, body)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT60S": time.Minute, "PT60.000S": time.Minute, "PT5M0S": 5 * time.Minute, "P0DT0H1M0S": time.Minute,
		"PT0.5S": 500 * time.Millisecond, "P1D": 24 * time.Hour, "PT7200.000S": 2 * time.Hour,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "60", "PTxS", "-PT1S"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}
