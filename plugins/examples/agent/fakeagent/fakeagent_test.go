package fakeagent

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk/testdevice"
)

func TestRefusals(t *testing.T) {
	a, err := Start(testdevice.New(testdevice.Spec{}), "tok")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, tc := range []struct {
		name, method, path, auth, body string
		want                           int
	}{
		{"no token", "POST", "/v1/commands", "", `{"shell":"cmd","script":"hostname"}`, http.StatusUnauthorized},
		{"wrong token", "POST", "/v1/commands", "Bearer tok2", `{"shell":"cmd","script":"hostname"}`, http.StatusUnauthorized},
		{"GET", "GET", "/v1/commands", "Bearer tok", "", http.StatusMethodNotAllowed},
		{"other path", "POST", "/v2/commands", "Bearer tok", "", http.StatusNotFound},
		{"unknown shell", "POST", "/v1/commands", "Bearer tok", `{"shell":"bash","script":"true"}`, http.StatusBadRequest},
		{"unknown field", "POST", "/v1/commands", "Bearer tok", `{"shell":"cmd","script":"hostname","env":{}}`, http.StatusBadRequest},
		{"bad stdin", "POST", "/v1/commands", "Bearer tok", `{"shell":"cmd","script":"hostname","stdin":"!!"}`, http.StatusBadRequest},
		{"runs", "POST", "/v1/commands", "Bearer tok", `{"shell":"cmd","script":"hostname"}`, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, a.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body, tc.want)
			}
			if tc.want == http.StatusOK && !strings.Contains(string(body), `"exit_code":0`) {
				t.Errorf("stream %s has no exit", body)
			}
		})
	}
}

func TestUTF8Splitter(t *testing.T) {
	var u utf8Splitter
	b := []byte("aé東")
	var got []string
	for _, p := range [][]byte{b[:2], b[2:4], b[4:5], b[5:]} {
		got = append(got, u.take(sdk.Stdout, p))
	}
	got = append(got, u.rest(sdk.Stdout))
	if strings.Join(got, "|") != "a|é||東|" {
		t.Errorf("events %q", got)
	}
}
