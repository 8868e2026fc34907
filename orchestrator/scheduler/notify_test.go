package scheduler_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/internal/smtptest"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

const approvalCampaign = `
name: upgrade-notify
playbook: win10-feature-update
params:
  media_source: '\\dp01\media$\Win10_22H2'
target: 'build<10.0.19045'
waves:
  - {name: pilot, count: 4, max_failure_percent: 20}
  - {name: rest, approval: manual, max_failure_percent: 50}
`

// TestNotificationsEndToEnd runs a campaign on simulated devices where the
// pilot halts (a compatibility block), a person fixes the device and
// retries it, the next wave waits for approval, it is approved, and the
// campaign completes: a signed webhook and an email arrive for each of the
// three events, once, and an organisation with no device in the campaign
// hears nothing.
func TestNotificationsEndToEnd(t *testing.T) { forEngines(t, notificationsEndToEnd) }

func notificationsEndToEnd(t *testing.T, eng engine) {
	specs := make([]device.Spec, 8)
	for i := range specs {
		s := simtest.Win10(device.Behaviour{UpgradeTime: 20 * time.Minute})
		s.Hostname = fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%2)
		s.Build, s.UBR = "10.0.18363", 1556
		specs[i] = s
	}
	e := newEstate(t, eng, specs, func(i int) string { return fmt.Sprintf("R%c", 'A'+i%2) })
	ctx := context.Background()

	// The receivers: a webhook endpoint and an SMTP server, both local.
	var mu sync.Mutex
	var hooks []notify.Event
	secret := "hook-secret"
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook: %v", err)
		}
		var ev notify.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		mu.Lock()
		hooks = append(hooks, ev)
		mu.Unlock()
	}))
	defer rcv.Close()
	smtp := smtptest.Start(t, smtptest.Options{})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := e.db.Notifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []notify.Subscription{
		{Channel: notify.Webhook, URL: rcv.URL, SecretFile: secretFile},
		{Channel: notify.Email, To: "desktop@nhs.uk", From: "ringmaster@nhs.uk", SMTP: smtp.Addr},
		{Org: "RZ", Channel: notify.Webhook, URL: rcv.URL + "/rz"}, // no device in the campaign
	} {
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, err := store.AddSubscription(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	n, err := notify.New(notify.Config{Store: store, Poll: 50 * time.Millisecond,
		Email: &notify.Mailer{TLS: &tls.Config{RootCAs: smtp.Roots, MinVersion: tls.VersionTLS12}}})
	if err != nil {
		t.Fatal(err)
	}
	nctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.Run(nctx) }()
	defer func() { stop(); <-done }()
	e.onApplied = n.Applied

	const name = "upgrade-notify"
	if _, err := e.campaigns().Create(ctx, "c.yaml", []byte(approvalCampaign)); err != nil {
		t.Fatal(err)
	}
	members, err := e.store.Members(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var blocked *device.Machine
	for _, m := range members {
		if m.Wave == 0 {
			blocked = e.devices[m.Hostname].Endpoint.Machine
			break
		}
	}
	blocked.SetCompatBlock(true)
	e.start(t, nil)
	if _, err := e.store.ChangeStatus(ctx, name, orchestrator.ActionStart); err != nil {
		t.Fatal(err)
	}
	waitWave(t, e, name, 0, orchestrator.WaveHalted)
	blocked.SetCompatBlock(false) // a person removes the incompatible app
	if k, err := e.campaigns().Retry(ctx, name, orchestrator.DeviceFilter{}); err != nil || k != 1 {
		t.Fatalf("retry: %d, %v", k, err)
	}
	waitWave(t, e, name, 1, orchestrator.WaveAwaitingApproval)
	if err := e.campaigns().Approve(ctx, name, "rest", campaigns.Decision{Actor: "test", Reason: "the pilot is good"}); err != nil {
		t.Fatal(err)
	}
	e.waitDone(t, name, 2*time.Minute)

	want := []notify.Type{notify.WaveHalted, notify.ApprovalNeeded, notify.CampaignDone}
	mails := smtp.Wait(len(want), 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got := len(hooks)
		mu.Unlock()
		if got >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // anything sent twice would arrive by now
	mu.Lock()
	defer mu.Unlock()
	if len(hooks) != len(want) || len(smtp.Messages()) != len(want) {
		t.Fatalf("%d webhooks %+v and %d emails, want %d of each", len(hooks), hooks, len(smtp.Messages()), len(want))
	}
	subjects := []string{"Subject: [Ringmaster] wave pilot of campaign upgrade-notify halted",
		"Subject: [Ringmaster] wave rest of campaign upgrade-notify awaits approval",
		"Subject: [Ringmaster] campaign upgrade-notify is done"}
	for i, typ := range want {
		h := hooks[i]
		if h.Type != typ || h.Campaign != name || len(h.Orgs) == 0 {
			t.Errorf("webhook %d: %+v, want %s", i, h, typ)
		}
		if !strings.Contains(mails[i].Data, subjects[i]) || !mails[i].TLS {
			t.Errorf("email %d (TLS %v):\n%s\nwant %q", i, mails[i].TLS, mails[i].Data, subjects[i])
		}
	}
	if !strings.Contains(hooks[1].Summary, "ringmaster campaign approve upgrade-notify rest") {
		t.Errorf("approval summary %q", hooks[1].Summary)
	}
	if hooks[2].Counts["succeeded"] != 8 {
		t.Errorf("done counts %v", hooks[2].Counts)
	}
}

// waitWave waits for a campaign's wave to reach a status.
func waitWave(t *testing.T, e *estate, name string, wave int, want orchestrator.WaveStatus) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		_, waves, err := e.store.Waves(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if waves[wave].Status == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, waves, _ := e.store.Waves(context.Background(), name)
	t.Fatalf("wave %d is %+v, want %s", wave, waves[wave], want)
}
