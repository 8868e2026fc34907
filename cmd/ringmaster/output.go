package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// output is a buffered destination for a command's result: standard
// output, or a file that appears only once complete. A file is written to
// a temporary name beside it and renamed on Commit, so an interrupted or
// failed export never leaves a half-written file under the name asked for.
type output struct {
	*bufio.Writer
	file *os.File // nil for standard output
	path string
	done bool
}

// createOutput opens path ("" for standard output).
func (a *app) createOutput(path string) (*output, error) {
	if path == "" {
		return &output{Writer: bufio.NewWriterSize(a.stdout, 256<<10)}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	// CreateTemp makes the file private (0600); the finished file is an
	// ordinary one, readable as a report or export is meant to be shared.
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &output{Writer: bufio.NewWriterSize(f, 256<<10), file: f, path: path}, nil
}

// Commit flushes and, for a file, moves it into place.
func (o *output) Commit() error {
	if err := o.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", o.name(), err)
	}
	o.done = true
	if o.file == nil {
		return nil
	}
	if err := o.file.Close(); err != nil {
		os.Remove(o.file.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	if err := os.Rename(o.file.Name(), o.path); err != nil {
		os.Remove(o.file.Name())
		return fmt.Errorf("write %s: %w", o.path, err)
	}
	return nil
}

// Abort discards a file that was not committed; after Commit it does nothing.
func (o *output) Abort() {
	if o.done || o.file == nil {
		return
	}
	o.file.Close()
	os.Remove(o.file.Name())
}

func (o *output) name() string {
	if o.path == "" {
		return "standard output"
	}
	return o.path
}

var _ io.Writer = (*output)(nil)

// writeTo writes through write to out, a file that appears whole or not
// at all ("" for standard output).
func (a *app) writeTo(out string, write func(io.Writer) error) error {
	w, err := a.createOutput(out)
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := write(w); err != nil {
		return err
	}
	return w.Commit()
}

// printAs prints v as indented JSON when output is "json", else as table
// prints it.
func (a *app) printAs(output string, v any, table func() error) error {
	if output == "json" {
		return writeJSON(a, v)
	}
	return table()
}

// newTable starts a table on w: columns two spaces apart, the header
// (when given) first. Write rows with row, or tab-separated lines; Flush
// prints it.
func newTable(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(header) > 0 {
		row(tw, header...)
	}
	return tw
}

// row writes one row of a table.
func row(tw *tabwriter.Writer, cells ...string) {
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
}

// writeJSON writes v to standard output as indented JSON.
func writeJSON(a *app, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
