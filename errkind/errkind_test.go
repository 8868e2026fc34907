package errkind_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/errkind"
)

func TestOf(t *testing.T) {
	for _, k := range []errkind.Kind{errkind.NotFound, errkind.Exists, errkind.Conflict, errkind.InUse, errkind.Invalid, errkind.Forbidden} {
		wrapped := fmt.Errorf("thing x: %w", k)
		if got := errkind.Of(wrapped); got != k {
			t.Errorf("Of(%v) = %v, want %v", wrapped, got, k)
		}
	}
	if got := errkind.Of(errors.New("disk on fire")); got != "" {
		t.Errorf("Of(an error of no kind) = %q, want none", got)
	}
	if got := errkind.Of(nil); got != "" {
		t.Errorf("Of(nil) = %q, want none", got)
	}
}

// The texts end the messages users see and golden files compare.
func TestTexts(t *testing.T) {
	for k, want := range map[error]string{errkind.NotFound: "not found", errkind.Exists: "already exists",
		errkind.Conflict: "conflict", errkind.InUse: "in use", errkind.Invalid: "invalid", errkind.Forbidden: "forbidden"} {
		if k.Error() != want {
			t.Errorf("%q, want %q", k.Error(), want)
		}
	}
}
