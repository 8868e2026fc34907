package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		size    int
		limit   Limit
		wantErr bool
	}{
		{"empty", 0, Limit{Max: 10}, false},
		{"at the limit", 10, Limit{Max: 10}, false},
		{"one over", 11, Limit{Max: 10, Raise: "--max-file-size"}, true},
		{"default limit", 1000, Limit{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(tt.name, tt.size)
			data, err := tt.limit.ReadFile(p)
			if tt.wantErr {
				var tl *TooLargeError
				if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) {
					t.Fatalf("err = %v, want a *TooLargeError", err)
				}
				if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.limit.Raise) {
					t.Errorf("error %q does not name the file and how to raise the limit", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != tt.size {
				t.Errorf("read %d bytes, want %d", len(data), tt.size)
			}
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	_, err := Limit{}.ReadFile(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not-exist", err)
	}
}
