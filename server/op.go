package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/errkind"
)

// Op describes one operation of the API: its route, the role it needs,
// and, for a change, the action the audit trail records it under. The
// OpenAPI document and the access test are built from the registered
// Ops, so a route cannot be served without being documented and tested.
type Op struct {
	ID      string // operationId, e.g. "campaign-pause"
	Method  string
	Path    string // e.g. "/api/v1/campaigns/{name}/pause"
	Summary string
	Tag     string
	// Role is the least role that may call it.
	Role access.Role
	// Audit names the change ("campaign.pause"); "" for a read.
	Audit string
	// Formats, when set, are the response's media types besides JSON
	// (text/csv, text/html, application/x-ndjson), chosen by Accept or
	// ?format=.
	Formats []string
	// Cache, for a read computed over the estate, is how long its
	// response is kept per scope and query (see cache).
	Cache time.Duration

	in, out reflect.Type
	serve   func(ctx context.Context, c *Call, r *http.Request) (any, error)
}

// MaxBody bounds a request body.
const MaxBody = 4 << 20

// handle registers fn as op. In is a struct whose fields tagged
// `path:"name"` and `query:"name"` are bound from the request (strings,
// ints and bools), and whose field Body, if any, is decoded from the JSON
// body; Out is encoded as the JSON response (or by a Rendered).
func handle[In, Out any](s *Server, op Op, fn func(ctx context.Context, c *Call, in *In) (Out, error)) {
	op.in = reflect.TypeFor[In]()
	op.out = reflect.TypeFor[Out]()
	if op.in.Kind() != reflect.Struct {
		panic("server: " + op.ID + ": input is not a struct")
	}
	op.serve = func(ctx context.Context, c *Call, r *http.Request) (any, error) {
		var in In
		if err := bind(r, &in, c.s.cfg.MaxUpload); err != nil {
			return nil, err
		}
		return fn(ctx, c, &in)
	}
	for _, o := range s.ops {
		if o.ID == op.ID || (o.Method == op.Method && o.Path == op.Path) {
			panic("server: operation registered twice: " + op.ID)
		}
	}
	s.ops = append(s.ops, &op)
	s.mux.Handle(op.Method+" "+op.Path, s.endpoint(&op))
}

// handleRendered registers fn as op, whose result is Out as JSON or, in
// one of op.Formats, what write makes of it; the document describes Out.
func handleRendered[In, Out any](s *Server, op Op, fn func(ctx context.Context, c *Call, in *In) (Out, error), write func(w io.Writer, out Out, format string) error) {
	handle(s, op, func(ctx context.Context, c *Call, in *In) (any, error) {
		out, err := fn(ctx, c, in)
		if err != nil {
			return nil, err
		}
		return c.render(out, func(w io.Writer, format string) error { return write(w, out, format) }), nil
	})
	s.ops[len(s.ops)-1].out = reflect.TypeFor[Out]()
}

// BadRequestError is a request the API cannot read: a parameter or the
// body, named. It wraps errkind.Invalid.
type BadRequestError struct {
	Where string // "query parameter limit", "body"
	Err   error
}

func (e *BadRequestError) Error() string { return e.Where + ": " + e.Err.Error() }

// Unwrap makes errors.Is(err, errkind.Invalid) hold.
func (e *BadRequestError) Unwrap() []error { return []error{e.Err, errkind.Invalid} }

// Upload is a request body taken as sent (a file to import) rather than
// decoded: an input's field of this type, tagged with the media types it
// takes (`upload:"text/csv,application/json"`), reads the body, which
// fails once past Config.MaxUpload bytes.
type Upload struct {
	ContentType string // as sent, without its parameters
	Body        io.Reader
}

var uploadType = reflect.TypeFor[Upload]()

// bind fills in from r's path, query and body; an upload may be at most
// maxUpload bytes.
func bind(r *http.Request, in any, maxUpload int64) error {
	v := reflect.ValueOf(in).Elem()
	t := v.Type()
	q := r.URL.Query()
	for i := range t.NumField() {
		f := t.Field(i)
		var raw, where string
		var present bool
		switch {
		case f.Tag.Get("path") != "":
			name := f.Tag.Get("path")
			raw, present, where = r.PathValue(name), true, "path parameter "+name
		case f.Tag.Get("query") != "":
			name := f.Tag.Get("query")
			_, present = q[name]
			raw, where = q.Get(name), "query parameter "+name
		case f.Name == "Body":
			if err := decodeBody(r, v.Field(i).Addr().Interface()); err != nil {
				return err
			}
			continue
		case f.Type == uploadType:
			up, err := upload(r, strings.Split(f.Tag.Get("upload"), ","), maxUpload)
			if err != nil {
				return err
			}
			v.Field(i).Set(reflect.ValueOf(up))
			continue
		default:
			continue
		}
		if !present {
			continue
		}
		if err := setField(v.Field(i), raw); err != nil {
			return &BadRequestError{Where: where, Err: err}
		}
	}
	return nil
}

func setField(f reflect.Value, raw string) error {
	switch f.Kind() {
	case reflect.String:
		f.SetString(raw)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		f.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		f.SetBool(b)
	default:
		panic("server: cannot bind a parameter of kind " + f.Kind().String())
	}
	return nil
}

// upload takes r's body as sent, in one of the media types types.
func upload(r *http.Request, types []string, max int64) (Upload, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(types, ct) {
		return Upload{}, &BadRequestError{Where: "body", Err: fmt.Errorf("content type %q: want one of %s", r.Header.Get("Content-Type"), strings.Join(types, ", "))}
	}
	return Upload{ContentType: ct, Body: &boundedReader{r: r.Body, left: max, max: max}}, nil
}

// TooLargeError is a body past the server's limit. It wraps
// errkind.Invalid.
type TooLargeError struct{ Max int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("body: over the server's limit of %d bytes (serve --max-upload)", e.Max)
}

// Unwrap makes errors.Is(err, errkind.Invalid) hold.
func (e *TooLargeError) Unwrap() error { return errkind.Invalid }

// boundedReader fails once more than max bytes are read, so what reads
// it (an import, one transaction) fails whole rather than taking a part.
type boundedReader struct {
	r         io.Reader
	left, max int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, &TooLargeError{Max: b.max}
	}
	if int64(len(p)) > b.left { // then left+1 cannot overflow
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, &TooLargeError{Max: b.max}
	}
	return n, err
}

// decodeBody reads a JSON body into dst: at most MaxBody bytes, one value,
// no unknown fields.
func decodeBody(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &BadRequestError{Where: "body", Err: fmt.Errorf("content type %q: want application/json (with curl, send --json)", ct)}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if errors.Is(err, io.EOF) {
			return &BadRequestError{Where: "body", Err: errors.New("empty: a JSON object is required")}
		}
		return &BadRequestError{Where: "body", Err: fmt.Errorf("not the JSON this operation takes: %w", err)}
	}
	if dec.More() {
		return &BadRequestError{Where: "body", Err: errors.New("more than one JSON value")}
	}
	if dec.InputOffset() > MaxBody {
		return &BadRequestError{Where: "body", Err: fmt.Errorf("over %d bytes", MaxBody)}
	}
	return nil
}

// Rendered is a response in a media type other than JSON (CSV, HTML,
// NDJSON): a handler returns it when the caller asked for that format.
type Rendered struct {
	ContentType string
	Write       func(w io.Writer) error
}

// format is the media type a caller asked of op: ?format= (json, csv,
// html, ndjson) first, else the Accept header's first type op has, else
// JSON.
func (op *Op) format(r *http.Request) (string, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		for _, m := range append([]string{"application/json"}, op.Formats...) {
			if shortFormat(m) == f {
				return m, nil
			}
		}
		names := []string{"json"}
		for _, m := range op.Formats {
			names = append(names, shortFormat(m))
		}
		return "", &BadRequestError{Where: "query parameter format", Err: fmt.Errorf("%q: want one of %s", f, strings.Join(names, ", "))}
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		m, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		for _, have := range op.Formats {
			if m == have {
				return have, nil
			}
		}
	}
	return "application/json", nil
}

func shortFormat(mediaType string) string {
	switch mediaType {
	case "application/json":
		return "json"
	case "text/csv":
		return "csv"
	case "text/html":
		return "html"
	case "application/x-ndjson":
		return "ndjson"
	case "text/event-stream":
		return "sse"
	}
	return mediaType
}

// target names what a request to op is made to, for the audit trail until
// the operation says better: its path parameters' values, joined by "/"
// ("win10-22h2/rest" for a wave).
func (op *Op) target(r *http.Request) string {
	var parts []string
	for rest := op.Path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		parts = append(parts, r.PathValue(rest[i+1:i+j]))
		rest = rest[i+j+1:]
	}
	return strings.Join(parts, "/")
}
