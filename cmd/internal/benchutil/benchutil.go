// Package benchutil holds what the benchmark commands share: starting
// `ringmaster simulate` and waiting for it, and reading inventory CSV.
package benchutil

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Simulator is a running `ringmaster simulate`.
type Simulator struct {
	Cmd *exec.Cmd
}

// StartSimulator runs `bin simulate args...` and waits for its ready line.
func StartSimulator(bin string, args ...string) (*Simulator, error) {
	cmd := exec.Command(bin, append([]string{"simulate"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("simulator did not get ready: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	return &Simulator{Cmd: cmd}, nil
}

// Stop interrupts the simulator and waits for it.
func (s *Simulator) Stop() {
	_ = s.Cmd.Process.Signal(os.Interrupt)
	_ = s.Cmd.Wait()
}

// Column returns one named column of a CSV file with a header row.
func Column(path, name string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	col := -1
	for i, h := range rows[0] {
		if h == name {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("%s has no %s column", path, name)
	}
	out := make([]string, 0, len(rows)-1)
	for _, r := range rows[1:] {
		out = append(out, r[col])
	}
	return out, nil
}

// FilterRows writes to dst the header and the rows of the CSV file src
// whose column name holds value, and returns how many rows it wrote.
func FilterRows(src, dst, name, value string) (int, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	r, w := csv.NewReader(in), csv.NewWriter(out)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		out.Close()
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	header = slices.Clone(header) // the reader reuses its record
	col := slices.Index(header, name)
	if col < 0 {
		out.Close()
		return 0, fmt.Errorf("%s has no %s column", src, name)
	}
	if err := w.Write(header); err != nil {
		out.Close()
		return 0, err
	}
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.Close()
			return 0, fmt.Errorf("%s: %w", src, err)
		}
		if rec[col] == value {
			if err := w.Write(rec); err != nil {
				out.Close()
				return 0, err
			}
			n++
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		out.Close()
		return 0, err
	}
	return n, out.Close()
}
