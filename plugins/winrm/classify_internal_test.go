package winrm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// TestClassify pins how transport errors map to kinds, in particular the
// ones a restarting host produces, which must be retryable.
func TestClassify(t *testing.T) {
	post := func(err error) error { return &url.Error{Op: "Post", URL: "http://127.1.1.1:5985/wsman", Err: err} }
	tests := []struct {
		err  error
		want sdk.Kind
	}{
		{post(errors.New("http: server closed idle connection")), sdk.Unreachable},
		{post(io.EOF), sdk.Unreachable},
		{post(errors.New("dial tcp 127.1.1.1:5985: connect: connection refused")), sdk.Unreachable},
		{fmt.Errorf("http response error: 401 - invalid content type"), sdk.AuthFailed},
		{errors.New("XML syntax error on line 1: unexpected EOF in CDATA"), sdk.Protocol},
		{post(context.DeadlineExceeded), sdk.TimedOut},
	}
	for _, tt := range tests {
		if got := classify(context.Background(), tt.err); got != tt.want {
			t.Errorf("%v: %s, want %s", tt.err, got, tt.want)
		}
	}
}
