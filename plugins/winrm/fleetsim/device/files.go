package device

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The machine's disk is a map of file paths (compared case-insensitively,
// as NTFS does) to contents. It holds what tools write over WinRM: scripts
// for scheduled tasks, their logs, staged installation media and update
// packages. It survives reboots. Directories exist implicitly, as the
// parents of files, or explicitly once created.

// mountedMedia is the drive where installation media is already mounted
// (an ISO attached by a deployment tool): setup.exe runs from it without
// staging.
const mountedMedia = `D:\`

// mediaFiles are what staging Windows 10 media leaves in its folder.
var mediaFiles = []string{`setup.exe`, `sources\install.wim`, `sources\setuphost.exe`}

func fileKey(p string) string {
	return strings.TrimSuffix(strings.ToLower(strings.ReplaceAll(p, "/", `\`)), `\`)
}

// writeFile stores a file. The caller holds m.mu.
func (m *Machine) writeFile(p, content string) {
	m.files[fileKey(p)] = content
}

// readFile returns a file's content. The caller holds m.mu.
func (m *Machine) readFile(p string) (string, bool) {
	c, ok := m.files[fileKey(p)]
	return c, ok
}

// Files lists the files on the disk, sorted, each path in lower case (the
// disk compares paths as NTFS does, ignoring case).
func (m *Machine) Files() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Collect(maps.Keys(m.files))
	slices.Sort(out)
	return out
}

// exists reports a file or directory. The caller holds m.mu.
func (m *Machine) exists(p string) bool {
	k := fileKey(p)
	if _, ok := m.files[k]; ok || m.dirs[k] {
		return true
	}
	for f := range m.files {
		if strings.HasPrefix(f, k+`\`) {
			return true
		}
	}
	media := fileKey(mountedMedia)
	return k == media || strings.HasPrefix(k, media+`\`)
}

// removePath deletes a file or a directory and everything under it. The
// caller holds m.mu.
func (m *Machine) removePath(p string) bool {
	k := fileKey(p)
	found := false
	for f := range m.files {
		if f == k || strings.HasPrefix(f, k+`\`) {
			delete(m.files, f)
			found = true
		}
	}
	for d := range m.dirs {
		if d == k || strings.HasPrefix(d, k+`\`) {
			delete(m.dirs, d)
			found = true
		}
	}
	return found
}

// isUNC reports a network path (\\server\share\...).
func isUNC(p string) bool { return strings.HasPrefix(p, `\\`) }

// robocopy copies a folder. Copying installation media from a share marks
// the media as staged in the destination. From a WinRM session a share is
// refused (the double hop: the session has no network credentials), as
// robocopy reports it; a scheduled task running as SYSTEM reaches the
// share as the computer account.
func (m *Machine) robocopy(args []string, s session) *Proc {
	if len(args) < 2 {
		return finished("", "ERROR : Invalid Parameter #1 : \"\"\r\n", 16)
	}
	src, dst := args[0], args[1]
	if isUNC(src) && !s.system {
		return finished(fmt.Sprintf("\r\n-------------------------------------------------------------------------------\r\n   ROBOCOPY     ::     Robust File Copy for Windows\r\n-------------------------------------------------------------------------------\r\n\r\n  Source : %s\\\r\n    Dest : %s\\\r\n\r\nERROR 5 (0x00000005) Accessing Source Directory %s\\\r\nAccess is denied.\r\n", src, dst, src), "", 16)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !isUNC(src) && !m.exists(src) {
		return finished(fmt.Sprintf("ERROR 2 (0x00000002) Accessing Source Directory %s\\\r\nThe system cannot find the file specified.\r\n", src), "", 16)
	}
	copied := 0
	for _, f := range mediaFiles {
		p := dst + `\` + f
		if _, ok := m.readFile(p); !ok {
			m.writeFile(p, "(Windows 10 installation media)")
			copied++
		}
	}
	if copied == 0 {
		// Robocopy's exit codes are a bit field: 0 nothing copied (already
		// in sync), 1 files copied; 8 and above are failures.
		return finished("\r\n   Files :  "+fmt.Sprint(len(mediaFiles))+"  0  "+fmt.Sprint(len(mediaFiles))+"\r\n", "", 0)
	}
	return finished(fmt.Sprintf("\r\n   Files :  %d  %d  %d\r\n", len(mediaFiles), copied, len(mediaFiles)-copied), "", 1)
}

// bitsadmin handles bitsadmin /transfer NAME [/download] [/priority P] URL FILE.
// BITS refuses a network logon session, such as WinRM's, with
// ERROR_NOT_LOGGED_ON; as SYSTEM the download completes.
func (m *Machine) bitsadmin(args []string, s session) *Proc {
	if len(args) < 3 || !strings.EqualFold(args[0], "/transfer") {
		return finished("", "Invalid command\r\n", 1)
	}
	var rest []string
	for i := 2; i < len(args); i++ {
		switch strings.ToLower(args[i]) {
		case "/download", "/upload", "/dynamic":
		case "/priority":
			i++
		default:
			rest = append(rest, args[i])
		}
	}
	if len(rest) < 2 {
		return finished("", "Invalid command\r\n", 1)
	}
	url, file := rest[0], rest[1]
	if !s.system {
		return finished("", "Unable to add file to job - 0x800704dd\r\nThe operation being requested was not performed because the user has not logged on to the network. The specified service does not exist.\r\n", 1)
	}
	m.mu.Lock()
	m.writeFile(file, "(downloaded from "+url+")")
	m.mu.Unlock()
	return finished(fmt.Sprintf("DISPLAY: '%s' TRANSFERRED\r\nTransfer complete.\r\n", args[1]), "", 0)
}

// expandArchive is Expand-Archive -Path ZIP -DestinationPath DIR: a
// downloaded media archive unpacks into installation media.
func (m *Machine) expandArchive(args []string) ([]any, *psError) {
	zip, dst := flagOr(args, "-path", "-literalpath"), flagAt(args, "-destinationpath", 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.readFile(zip); !ok {
		return nil, &psError{fmt.Sprintf("Expand-Archive : The path '%s' either does not exist or is not a valid file system path.\r\n", zip)}
	}
	for _, f := range mediaFiles {
		m.writeFile(dst+`\`+f, "(Windows 10 installation media)")
	}
	return nil, nil
}

// newItem is New-Item -ItemType Directory|File -Path P [-Force] [-Value V].
func (m *Machine) newItem(args []string) ([]any, *psError) {
	p := flagOr(args, "-path", "")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.exists(p) && !containsFold(args, "-force") {
		return nil, &psError{fmt.Sprintf("New-Item : An item with the specified name %s already exists.\r\n", p)}
	}
	if strings.EqualFold(flagAt(args, "-itemtype", -1), "file") {
		m.writeFile(p, flagAt(args, "-value", -1))
	} else {
		m.dirs[fileKey(p)] = true
	}
	return []any{object{{"FullName", p}}}, nil
}

// setContent is Set-Content -Path P -Value V [-Encoding E].
func (m *Machine) setContent(args []string) ([]any, *psError) {
	p, v := flagOr(args, "-path", "-literalpath"), flagAt(args, "-value", 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writeFile(p, v)
	return nil, nil
}

// removeItem is Remove-Item -Path P [-Recurse] [-Force].
func (m *Machine) removeItem(args []string) ([]any, *psError) {
	p := flagOr(args, "-path", "-literalpath")
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.removePath(p) && !slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, "-erroraction") }) {
		return nil, &psError{fmt.Sprintf("Remove-Item : Cannot find path '%s' because it does not exist.\r\n", p)}
	}
	return nil, nil
}

// startProcess is Start-Process -FilePath P [-ArgumentList 'A B'] -Wait
// -PassThru: it runs a program to its end and returns a process object
// whose ExitCode scripts read, the way to wait for a GUI-subsystem program
// such as wusa.exe, which PowerShell would otherwise not wait for.
func (m *Machine) startProcess(args []string, s session) ([]any, *psError) {
	file := flagOr(args, "-filepath", "")
	line := file
	if strings.ContainsAny(file, " \t") {
		line = `"` + file + `"`
	}
	if a := flagAt(args, "-argumentlist", -1); a != "" {
		line += " " + a
	}
	if !nativePrograms[program(file)] {
		return nil, &psError{"Start-Process : This command cannot be run due to the error: The system cannot find the file specified.\r\n"}
	}
	// Start-Process hands the file and the argument list, joined as they
	// are, to the system (ShellExecuteEx, then CreateProcess): no cmd.exe.
	_, _, code := readAll(m.exec(line, s))
	if !containsFold(args, "-passthru") {
		return nil, nil
	}
	return []any{object{{"Id", int64(4242)}, {"ProcessName", program(file)}, {"ExitCode", int64(code)}}}, nil
}
