package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	env := func(string) string { return "" }
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"simulate", "--devices", "20", "--orgs", "2", "--seed", "3", "--https",
			"--faults", "unreachable=10%,compat=10%", "--first-address", "127.99.1.1", "--inventory-out", filepath.Join(dir, "fleet.csv"),
			"--truth-out", filepath.Join(dir, "truth.json"), "--ca-out", filepath.Join(dir, "ca.pem")},
			strings.NewReader(""), &stdout, &stderr, env)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasPrefix(stdout.String(), "ready ") {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line; stderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The inventory it wrote imports cleanly.
	s := newScript(t)
	if code := s.run("inventory", "import", filepath.Join(dir, "fleet.csv"), "--create-orgs"); code != 0 {
		t.Fatalf("importing the simulator's inventory:\n%s", s.out.String())
	}
	// And the first reachable device answers over verified HTTPS.
	var truth []struct {
		Hostname, Address string
		Faults            []string
	}
	resp, err := os.ReadFile(filepath.Join(dir, "fleet.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(resp)), "\n")
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	answered := 0
	for _, line := range lines[1:] {
		cells := strings.Split(line, ",")
		host, addr := cells[0], cells[len(cells)-2]
		ip, port, _ := strings.Cut(addr, ":")
		p, _ := strconv.Atoi(port)
		e := winrm.NewEndpoint(ip, p, true, false, ca, nil, nil, 3*time.Second)
		e.TLSServerName = host
		c, err := winrm.NewClient(e, simDefaultUser, simDefaultPassword)
		if err != nil {
			t.Fatal(err)
		}
		out, _, _, err := c.RunWithContextWithString(context.Background(), "hostname", "")
		if err == nil {
			name, _, _ := strings.Cut(host, ".")
			if out != strings.ToUpper(name)+"\r\n" {
				t.Fatalf("%s answered %q", host, out)
			}
			answered++
		}
	}
	if answered != 18 {
		t.Fatalf("%d of 20 devices answered, want 18 (10%% unreachable)", answered)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("simulate exited %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("simulate did not stop on cancel")
	}
	b, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &truth); err != nil || len(truth) != 20 {
		t.Fatalf("truth.json: %d devices, %v", len(truth), err)
	}
	faulty := 0
	for _, d := range truth {
		faulty += len(d.Faults)
	}
	if faulty != 4 {
		t.Errorf("%d faults in the truth, want 4", faulty)
	}
}
