//go:build !linux

package host

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Running a pinned plugin race-free needs Linux's /proc/self/fd (see
// exec_linux.go); elsewhere plugins are refused rather than run unsafely.
var errNeedsLinux = fmt.Errorf("running a pinned plugin needs Linux's /proc/self/fd: %w", errors.ErrUnsupported)

func openPlugin(path, _ string) (*os.File, error) { return openChecked(path) }

func openChecked(path string) (*os.File, error) {
	return nil, fmt.Errorf("plugin file %s: %w", path, errNeedsLinux)
}

func openSelf() (*os.File, error) { return nil, errNeedsLinux }

func command(*os.File, string, []string, []string) (*exec.Cmd, error) { return nil, errNeedsLinux }

func killGroup(*exec.Cmd) {}

func digest(*os.File) ([]byte, error) { return nil, errNeedsLinux }
