package host

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// How a pinned plugin is run.
//
// The file is opened once; the checks (ownership, permissions, a regular
// file) and the SHA-256 are made on that descriptor, and the child is
// started from that same descriptor: it is passed as the child's fd 3
// (exec.Cmd.ExtraFiles) and the child executes /proc/self/fd/3, which
// the kernel resolves to the very inode that was hashed, whatever has
// since been renamed, symlinked or moved into place at the path.
//
// Why not the alternatives:
//   - Hashing the path and then executing the path (what go-plugin's
//     SecureConfig does) leaves a window in which another file can be put
//     in place; that is the race this replaces.
//   - Executing /proc/self/fd/N of a descriptor in this process fails for
//     "#!" scripts: N is close-on-exec, so by the time the interpreter
//     opens the path it names, N is gone (the reason fexecve(3) cannot run
//     scripts). A descriptor passed in ExtraFiles is not close-on-exec in
//     the child, so the interpreter's open of /proc/self/fd/3 succeeds and
//     reads the hashed inode. The plugin keeps that read-only descriptor
//     on its own file, which gives it nothing it did not have. A script
//     sees /proc/self/fd/3 as $0, so it cannot find files beside itself
//     through $0; the interpreter named after "#!" is found by its path,
//     as for any script.
//   - Copying the verified bytes to a private directory and running the
//     copy needs a directory that is both private and executable, and on
//     hardened servers /tmp, /var/tmp, /dev/shm and /run are mounted
//     noexec; it also costs a copy of a 40 MB binary per start and leaves
//     copies behind after a crash. A sealed memfd avoids the directory
//     but not the copy, and vm.memfd_noexec can forbid executing it.
//
// The inode still holds what was hashed only while nobody writes to it,
// which is why the file must be owned by root or by the user running
// Ringmaster and be writable by nobody else (checkOwnerMode): whoever
// could write it in place could as well have installed it.
//
// This needs /proc, which every Linux system running Ringmaster has; the
// error says so if it is missing.

// childFD is the descriptor number the verified file has in the child:
// the first of exec.Cmd.ExtraFiles.
const childFD = "/proc/self/fd/3"

// openPlugin opens the plugin file at path, refuses it unless it and the
// directories leading to it pass CheckFile's rules, and checks that what
// was opened has the SHA-256 sum (hex). The returned file is what command
// runs.
func openPlugin(path, sum string) (*os.File, error) {
	want, err := hex.DecodeString(sum)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("registered SHA-256 %q is not a hex SHA-256", sum)
	}
	f, err := openChecked(path)
	if err != nil {
		return nil, err
	}
	got, err := digest(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	if !bytes.Equal(got, want) {
		f.Close()
		return nil, fmt.Errorf("%s: %w: registered %s, the file is %x; reinstall it with `ringmaster plugin install` if the change is yours",
			path, ErrChecksum, sum, got)
	}
	return f, nil
}

// openSelf opens the executable this process is running, whatever its
// path now holds: the built-in executors are this very binary.
func openSelf() (*os.File, error) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open this executable: %w (is /proc mounted?)", err)
	}
	return f, nil
}

// command returns the command that runs the verified file f with argv0
// and args: see the comment at the top of this file. The plugin gets its
// own process group, so that one that fails to start can be killed with
// everything it started (killGroup).
func command(f *os.File, argv0 string, args []string, env []string) (*exec.Cmd, error) {
	if _, err := os.Stat(childFD); err != nil {
		return nil, fmt.Errorf("plugins are run through /proc/self/fd: %w (is /proc mounted?)", err)
	}
	cmd := exec.Command(childFD, args...)
	cmd.Args[0] = argv0
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

// killGroup kills the process group of a started command: the plugin and
// anything it started that still holds its stdout or stderr, which would
// otherwise keep go-plugin's Kill waiting for as long as it lives.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func digest(f *os.File) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return h.Sum(nil), nil
}

// openChecked opens path for reading and checks, on what it opened, that
// it is a regular file nobody but root and this process's user can
// change, reached only through directories nobody else can change.
func openChecked(path string) (*os.File, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("plugin file %s: the path must be absolute", path)
	}
	// O_NONBLOCK: a FIFO put in place of the plugin must not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("plugin file: %w", err)
	}
	fi, err := f.Stat()
	var final string
	var finalInfo fs.FileInfo
	if err == nil {
		final, finalInfo, err = checkTree(path)
	}
	if err == nil && !os.SameFile(fi, finalInfo) {
		err = fmt.Errorf("plugin file %s was replaced while it was being checked; try again", path)
	}
	if err == nil {
		err = checkFileInfo(path, final, fi) // what was opened, named as resolved
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkTree resolves path one component at a time, as the kernel would,
// and checks every directory it passes through (those of the path and of
// any symbolic link on the way) and the final file. A symbolic link is as
// safe as the directory that holds it, which is checked. It returns the
// final file's path, free of links, and its information.
func checkTree(path string) (string, fs.FileInfo, error) {
	const maxLinks = 40 // as Linux's MAXSYMLINKS
	links := 0
	dir := "/"
	if err := checkDir(path, dir); err != nil {
		return "", nil, err
	}
	rest := strings.Split(path, "/")
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			dir = filepath.Dir(dir) // dir has no links in it: its parent is its real parent
			continue
		}
		next := filepath.Join(dir, name)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", nil, fmt.Errorf("plugin file %s: %w", path, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return "", nil, fmt.Errorf("plugin file %s: too many levels of symbolic links", path)
			}
			target, err := os.Readlink(next)
			if err != nil {
				return "", nil, fmt.Errorf("plugin file %s: %w", path, err)
			}
			if filepath.IsAbs(target) {
				dir = "/"
			}
			rest = append(strings.Split(target, "/"), rest...)
			continue
		}
		if len(rest) == 0 || allEmpty(rest) {
			return next, fi, checkFileInfo(path, next, fi)
		}
		if !fi.IsDir() {
			return "", nil, fmt.Errorf("plugin file %s: %s is not a directory", path, next)
		}
		if err := checkDir(path, next); err != nil {
			return "", nil, err
		}
		dir = next
	}
	return "", nil, fmt.Errorf("plugin file %s: names a directory", path)
}

func allEmpty(names []string) bool {
	for _, n := range names {
		if n != "" && n != "." {
			return false
		}
	}
	return true
}

func checkDir(plugin, dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("plugin file %s: %w", plugin, err)
	}
	return checkOwnerMode(plugin, dir, fi)
}

func checkFileInfo(plugin, path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("plugin file %s: %s is not a regular file (%s)", plugin, path, fi.Mode().Type())
	}
	return checkOwnerMode(plugin, path, fi)
}

// checkOwnerMode refuses a file or directory that someone other than root
// and this process's user could change: one owned by another user (who
// could chmod it), or writable by its group or by others. A sticky
// directory such as /tmp is refused too: the sticky bit stops others from
// removing what is ours, but the plugin would still live where any user
// may create names beside it, and tmp cleaners remove old files.
func checkOwnerMode(plugin, path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("plugin file %s: cannot read the owner of %s", plugin, path)
	}
	e := &UnsafePathError{Plugin: plugin, Path: path, Dir: fi.IsDir(), Mode: st.Mode & 0o7777, UID: int(st.Uid)}
	euid := os.Geteuid()
	w := st.Mode & 0o022
	switch {
	case st.Uid != 0 && int(st.Uid) != euid:
		e.Problem = fmt.Sprintf("is owned by uid %d: only root (uid 0) or the user running ringmaster (uid %d) may own it", st.Uid, euid)
		e.Fix = "chown root " + path
	case w == 0:
		return nil
	case w == 0o022:
		e.Problem = "is writable by its group and by others"
	case w == 0o020:
		e.Problem = "is writable by its group"
	default:
		e.Problem = "is writable by others"
	}
	if e.Fix == "" {
		e.Fix = "chmod go-w " + path
	}
	if e.Dir && st.Mode&syscall.S_ISVTX != 0 && w != 0 {
		e.Fix = "" // never chmod a shared directory such as /tmp
	}
	if e.Dir {
		if e.Fix != "" {
			e.Fix += ", or move the plugin"
		} else {
			e.Fix = "move the plugin"
		}
		e.Fix += " to a directory only root can write, such as /usr/local/libexec/ringmaster"
	}
	return e
}
