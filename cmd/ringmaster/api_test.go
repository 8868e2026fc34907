package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	ID, Event, Data string
}

// follow reads a campaign's event stream into events until it ends (an
// end event, or the connection closing).
func follow(ctx context.Context, t *testing.T, url, token, lastID string) (<-chan sseEvent, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	out := make(chan sseEvent, 1000)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					out <- ev
					if ev.Event == "end" {
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	return out, nil
}

// TestCampaignThroughTheAPI drives a whole campaign on the simulated fleet
// through the API alone (ringmaster serve, which runs it too): create,
// start, approve the gated wave when the pilot is done, follow it by
// server-sent events to the end, both as the estate's operator and as an
// organisation's viewer, who sees its own devices only; then resume a
// stream from a transition's id, and read the audit trail.
func TestCampaignThroughTheAPI(t *testing.T) {
	_, call, env := fleetEstate(t, 8, nil)
	token := func(args ...string) string {
		o, e, code := call("", append([]string{"token", "create"}, args...)...)
		if code != 0 {
			t.Fatal(e)
		}
		return strings.TrimSpace(o)
	}
	ops := token("ops", "--role", "approver", "--scope", "estate")
	raViewer := token("ra-manager", "--role", "viewer", "--scope", "org:RA")

	base, errs, stop := startServe(t, env, "--workers", "4")
	ctx := t.Context()
	api := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	spec, _ := json.Marshal(map[string]string{"file": "c.yaml", "spec": quickCampaign})
	if status, v := api("POST", "/api/v1/campaigns", ops, string(spec)); status != 200 || v["devices"] != 8.0 {
		t.Fatalf("create: %d %v", status, v)
	}
	if status, v := api("POST", "/api/v1/campaigns/discover-all/start", ops, ""); status != 200 || v["status"] != "running" {
		t.Fatalf("start: %d %v", status, v)
	}
	evCtx, stopEvents := context.WithTimeout(ctx, 3*time.Minute)
	defer stopEvents()
	streams := map[string]<-chan sseEvent{}
	for name, tok := range map[string]string{"ops": ops, "ra": raViewer} {
		ch, err := follow(evCtx, t, base+"/api/v1/campaigns/discover-all/events", tok, "")
		if err != nil {
			t.Fatal(err)
		}
		streams[name] = ch
	}
	var mu sync.Mutex
	got := map[string][]sseEvent{}
	var wg sync.WaitGroup
	for name, ch := range streams {
		wg.Go(func() {
			for ev := range ch {
				mu.Lock()
				got[name] = append(got[name], ev)
				mu.Unlock()
			}
		})
	}
	// The rest wave waits for approval once the pilot is done.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, v := api("GET", "/api/v1/campaigns/discover-all", ops, "")
		if waves, _ := v["waves"].([]any); len(waves) == 2 && waves[1].(map[string]any)["status"] == "awaiting_approval" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rest wave never awaited approval: %v\n%s", v, errs.String())
		}
	}
	if status, v := api("POST", "/api/v1/campaigns/discover-all/waves/rest/approve", raViewer, `{}`); status != 403 {
		t.Fatalf("approve as RA's viewer: %d %v", status, v)
	}
	if status, v := api("POST", "/api/v1/campaigns/discover-all/waves/rest/approve", ops, `{"reason":"pilot fine"}`); status != 200 {
		t.Fatalf("approve: %d %v", status, v)
	}
	wg.Wait()
	if evCtx.Err() != nil {
		t.Fatalf("the streams did not end with the campaign: %v\n%s", evCtx.Err(), errs.String())
	}
	succeeded := func(evs []sseEvent) (map[string]bool, string) {
		hosts := map[string]bool{}
		last := ""
		for _, ev := range evs {
			if ev.Event != "transition" {
				continue
			}
			var tr struct{ Hostname, Org, To string }
			json.Unmarshal([]byte(ev.Data), &tr)
			if tr.To == "succeeded" {
				hosts[tr.Hostname] = true
			}
			last = ev.ID
		}
		return hosts, last
	}
	all, lastID := succeeded(got["ops"])
	ra, _ := succeeded(got["ra"])
	if len(all) != 8 || len(ra) != 4 {
		t.Fatalf("the estate's stream saw %d devices succeed (want 8), RA's %d (want 4)", len(all), len(ra))
	}
	for h := range ra {
		if !strings.Contains(h, ".ra.") {
			t.Errorf("RA's viewer was told of %s", h)
		}
	}
	for name, evs := range got {
		if end := evs[len(evs)-1]; end.Event != "end" || !strings.Contains(end.Data, `"done"`) {
			t.Errorf("%s's stream ended with %+v, want the end of a done campaign", name, end)
		}
		var counts []string
		for _, ev := range evs {
			if ev.Event == "counts" {
				counts = append(counts, ev.Data)
			}
		}
		if len(counts) < 2 || !strings.Contains(counts[len(counts)-1], `"succeeded":`) {
			t.Errorf("%s's stream: counts %v", name, counts)
		}
		// Each change of the waves' statuses was told, the gated wave's
		// wait for approval among them.
		var waves []string
		for _, ev := range evs {
			if ev.Event == "waves" {
				waves = append(waves, ev.Data)
			}
		}
		awaited := slices.ContainsFunc(waves, func(d string) bool { return strings.Contains(d, `{"name":"rest","status":"awaiting_approval"}`) })
		if len(waves) < 3 || !awaited || !strings.Contains(waves[len(waves)-1], `{"name":"rest","status":"done"}`) {
			t.Errorf("%s's stream: waves %v", name, waves)
		}
	}
	// Resumed from the estate's next-to-last transition, a stream gives
	// the last one and ends at once.
	var ids []string
	for _, ev := range got["ops"] {
		if ev.Event == "transition" {
			ids = append(ids, ev.ID)
		}
	}
	ch, err := follow(ctx, t, base+"/api/v1/campaigns/discover-all/events?follow=false", ops, ids[len(ids)-2])
	if err != nil {
		t.Fatal(err)
	}
	var resumed []string
	for ev := range ch {
		if ev.Event == "transition" {
			resumed = append(resumed, ev.ID)
		}
	}
	if strings.Join(resumed, ",") != lastID {
		t.Errorf("resumed after %s: transitions %v, want [%s]", ids[len(ids)-2], resumed, lastID)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve: exit %d: %s", code, errs.String())
	}
	o, _, _ := call("", "audit", "--action", "campaign.")
	for _, want := range []string{"campaign.create", "campaign.start", "campaign.approve"} {
		if !regexp.MustCompile(`(?m)`+want+`\s+discover-all.*done`).MatchString(o) || !strings.Contains(o, "ops") {
			t.Errorf("the audit trail lacks %s by ops:\n%s", want, o)
		}
	}
	if !regexp.MustCompile(`ra-manager\s+token\s+\S+\s+campaign.approve\s+discover-all/rest\s+\S*\s*refused`).MatchString(o) {
		t.Errorf("the audit trail lacks the refused approval by ra-manager:\n%s", o)
	}
}
