package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTransportError types plugin connection failures: the plugin may end
// a stream on the caller's deadline just before the caller's context does.
func TestTransportError(t *testing.T) {
	withDeadline, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	deadlineErr := status.Error(codes.DeadlineExceeded, "stream terminated by RST_STREAM with error code: CANCEL")
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want Kind
	}{
		{"the plugin's timer fired first", withDeadline, deadlineErr, TimedOut},
		{"no deadline of ours", context.Background(), deadlineErr, Internal},
		{"cancelled by the caller", cancelled, status.Error(codes.Canceled, "x"), Cancelled},
		{"plugin crashed", withDeadline, errors.New("connection reset"), Internal},
	}
	for _, tt := range tests {
		if got := KindOf(transportError(tt.ctx, tt.err, "exec", "pc1")); got != tt.want {
			t.Errorf("%s: kind %q, want %q", tt.name, got, tt.want)
		}
	}
}
