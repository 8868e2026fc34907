package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/smtptest"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// lowDisk are the devices of TestCampaignHaltGolden with too little disk
// for its playbook: the first and last land in the pilot, the middle two
// in later waves.
var lowDisk = []string{"pc002.ra.nhs.uk", "pc005.rb.nhs.uk", "pc008.ra.nhs.uk", "pc011.rb.nhs.uk"}

const diskPlaybook = `name: disk-check
version: 1.0.0
description: Fails where the system disk has too little room for an upgrade.
steps:
  - {name: disk, when: 'facts.disk_free_gb < 20', fail: 'insufficient_disk: under 20 GB free on C:'}
`

const diskCampaign = `name: disk-check
playbook: disk.yaml
waves:
  - {name: pilot, count: 6, max_failure_percent: 10}
  - {name: ring1, count: 3, max_failure_percent: 10}
  - {name: rest, approval: manual, max_failure_percent: 10}
`

// hookSecret signs the webhooks of TestCampaignHaltGolden.
const hookSecret = "story-hook-secret"

// hookReceiver is a webhook endpoint that checks each request's signature
// as a receiver would (notify.Verify) and keeps the events in order.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []notify.Event
	bad []string // why a request was not a valid signed event
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var e notify.Event
		err := notify.Verify([]byte(hookSecret), req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now(), time.Minute)
		if err == nil {
			err = json.Unmarshal(body, &e)
		}
		if err == nil && (string(e.Type) != req.Header.Get(notify.HeaderEvent) || e.Key != req.Header.Get(notify.HeaderDelivery)) {
			err = fmt.Errorf("headers %s %s for event %s %s", req.Header.Get(notify.HeaderEvent), req.Header.Get(notify.HeaderDelivery), e.Type, e.Key)
		}
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, fmt.Sprintf("%s: %v", body, err))
		} else {
			r.got = append(r.got, e)
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) events() ([]notify.Event, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), slices.Clone(r.bad)
}

// TestCampaignHaltGolden walks a halt as a person decides it, subscribed
// nationally to a signed webhook and an email first: the pilot halts, they
// list its failed devices as CSV, exclude the two low-disk devices still
// to run, continue the pilot, raise the last wave's threshold and approve
// it; every decision is in show with who and why, and a webhook and an
// email arrive for the halt, the approval needed and the end.
func TestCampaignHaltGolden(t *testing.T) {
	s, call, _ := fleetEstate(t, 12, func(sp *device.Spec) {
		if slices.Contains(lowDisk, sp.Hostname) {
			sp.DiskFreeGB = 8
		}
	})
	s.out.Reset() // the import's output says nothing of halts
	s.env["RINGMASTER_ACTOR"] = "alice"
	for name, content := range map[string]string{"disk.yaml": diskPlaybook, "c.yaml": diskCampaign} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The runs print what varies (timings): only their exit codes count.
	runCampaign := func() {
		t.Helper()
		if _, e, code := call("", "run", "--until-done", "--view", "plain", "--workers", "8"); code != 0 {
			t.Fatalf("run: exit %d: %s", code, e)
		}
	}

	// Told nationally: a webhook signed with a secret only its owner may
	// read, and an email over STARTTLS to a server whose certificate the
	// test trusts (as notify's tests do).
	hooks := newHookReceiver(t)
	mail := smtptest.Start(t, smtptest.Options{})
	smtpTLS = &tls.Config{RootCAs: mail.Roots, MinVersion: tls.VersionTLS12}
	t.Cleanup(func() { smtpTLS = nil })
	if err := os.WriteFile("hook.secret", []byte(hookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.run("notify", "add", "--national", "--webhook", hooks.URL+"/ringmaster", "--secret-file", "hook.secret")
	s.run("notify", "add", "--national", "--email", "desktop@nhs.uk", "--smtp", mail.Addr, "--from", "ringmaster@nhs.uk")
	s.run("notify", "list")

	s.run("campaign", "create", "-f", "c.yaml")
	s.run("campaign", "approve", "disk-check", "ring1") // no manual gate: says so
	s.run("campaign", "start", "disk-check")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "devices", "disk-check", "--state", "failed", "-o", "csv")
	s.run("campaign", "devices", "disk-check", "--wave", "pilot", "--limit", "4")
	s.run("campaign", "exclude", "disk-check", lowDisk[1], lowDisk[2], lowDisk[3], "--reason", "disk too small; replaced in January")
	s.run("campaign", "continue", "disk-check", "--wave", "pilot", "--reason", "low disk, known")
	s.run("campaign", "continue", "disk-check", "--wave", "pilot")
	s.run("campaign", "set", "disk-check", "--max-failure-percent", "rest=300", "--cap", "per_org=-1", "--window", "RA=0 19 * * 1-5")
	s.run("campaign", "set", "disk-check", "--max-failure-percent", "rest=20", "--reason", "the rest is less critical")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "approve", "disk-check", "rest", "--reason", "ring1 clean")
	runCampaign()
	s.run("campaign", "show", "disk-check")
	s.run("campaign", "show", "disk-check", "--device", lowDisk[0])
	s.run("campaign", "show", "disk-check", "--device", lowDisk[2])
	s.run("campaign", "retry", "disk-check", "--failed", "--wave", "nope")
	s.run("notify", "list") // nothing left to deliver: each run ended with a flush
	notified(t, s, hooks, mail)
	// The controller decides on the wall clock, not RINGMASTER_NOW: its
	// times (a wave's start, a dispatch) are masked.
	// The test servers' ports are masked digit for digit, so that tables
	// stay aligned.
	out := localPort.ReplaceAllStringFunc(s.out.String(), func(a string) string {
		host, port, _ := strings.Cut(a, ":")
		return host + ":" + strings.Repeat("x", len(port))
	})
	out = wallTime.ReplaceAllStringFunc(out, func(t string) string {
		if strings.HasPrefix(t, "2026-11-02") && strings.Contains(t, "10:00") {
			return t
		}
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return 'x'
			}
			return r
		}, t)
	})
	s.out.Reset()
	s.out.WriteString(out)
	s.golden("halts")
}

var (
	wallTime  = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}Z)?`)
	localPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// notified checks what the story's runs delivered (by the time run exits,
// its bounded flush has sent what it queued): one signed webhook and one
// email each for the pilot's halt, the approval the last wave needs and
// the campaign's end, and writes them, in the order they arrived, to the
// story.
func notified(t *testing.T, s *script, hooks *hookReceiver, mail *smtptest.Server) {
	t.Helper()
	want := []struct {
		typ     notify.Type
		subject string
	}{
		{notify.WaveHalted, "[Ringmaster] wave pilot of campaign disk-check halted"},
		{notify.ApprovalNeeded, "[Ringmaster] wave rest of campaign disk-check awaits approval"},
		{notify.CampaignDone, "[Ringmaster] campaign disk-check is done"},
	}
	got, bad := hooks.events()
	for _, b := range bad {
		t.Errorf("webhook not a valid signed event: %s", b)
	}
	msgs := mail.Messages()
	s.out.WriteString("# arrived: the webhooks in order, then the emails in order\n")
	for _, e := range got {
		fmt.Fprintf(&s.out, "webhook (signed) %s: %s\n", e.Type, e.Summary)
	}
	var subjects []string
	for _, m := range msgs {
		subject := ""
		for _, l := range strings.Split(m.Data, "\r\n") {
			if v, ok := strings.CutPrefix(l, "Subject: "); ok {
				subject = v
				break
			}
		}
		subjects = append(subjects, subject)
		tls := "STARTTLS"
		if !m.TLS {
			tls = "plain text"
		}
		fmt.Fprintf(&s.out, "email to %s (%s): %s\n", strings.Join(m.To, ", "), tls, subject)
	}
	s.out.WriteString("\n")
	if len(got) != len(want) || len(msgs) != len(want) {
		t.Errorf("%d webhooks and %d emails arrived, want %d of each", len(got), len(msgs), len(want))
	}
	for i, w := range want {
		if i < len(got) && (got[i].Type != w.typ || got[i].Campaign != "disk-check") {
			t.Errorf("webhook %d: %s of %s, want %s", i+1, got[i].Type, got[i].Campaign, w.typ)
		}
		if i < len(msgs) && (subjects[i] != w.subject || !msgs[i].TLS || !slices.Equal(msgs[i].To, []string{"desktop@nhs.uk"})) {
			t.Errorf("email %d: %q to %v (TLS %v), want %q to desktop@nhs.uk over STARTTLS", i+1, subjects[i], msgs[i].To, msgs[i].TLS, w.subject)
		}
	}
}

// TestLiveETA: while only a person can move a campaign on, its ETA is the
// command they must run, not a time that grows while nothing runs.
func TestLiveETA(t *testing.T) {
	tests := []struct {
		p    campaigns.Progress
		want string
	}{
		{campaigns.Progress{ETA: 90 * time.Minute}, "1h30m0s"},
		{campaigns.Progress{ETA: 90 * time.Minute, WaitingFor: "ringmaster campaign approve c rest"}, "waiting for a person: ringmaster campaign approve c rest"},
		{campaigns.Progress{}, ""},
	}
	for _, tt := range tests {
		if got := eta(tt.p); got != tt.want {
			t.Errorf("eta(%+v) = %q, want %q", tt.p, got, tt.want)
		}
		var b strings.Builder
		renderLive(&b, tt.p)
		if tt.want != "" && !strings.Contains(b.String(), "ETA "+tt.want) {
			t.Errorf("live view lacks %q:\n%s", tt.want, b.String())
		}
	}
}
