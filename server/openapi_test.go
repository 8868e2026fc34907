package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi/datamodel"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/ringmaster-fleet/ringmaster/access"
)

// openAPI reads the document the server serves at /openapi.json and
// parses it with libopenapi.
func (f *fixture) openAPI() (libopenapi.Document, *v3.Document) {
	f.t.Helper()
	status, body, h := f.do("GET", "/openapi.json", "", "")
	if status != ok || h.Get("Content-Type") != "application/json" {
		f.t.Fatalf("/openapi.json: %d %s %.200s", status, h.Get("Content-Type"), body)
	}
	doc, err := libopenapi.NewDocument(body)
	if err != nil {
		f.t.Fatalf("/openapi.json does not parse: %v", err)
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		f.t.Fatalf("/openapi.json is not an OpenAPI 3 model: %v", err)
	}
	return doc, &m.Model
}

// describe lists a validator's findings, one a line, with the schema
// failures under each.
func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		if e.SpecLine > 0 {
			fmt.Fprintf(&b, " (document line %d)", e.SpecLine)
		}
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    at %s: %s (%s)", s.FieldPath, s.Reason, s.KeywordLocation)
		}
	}
	return b.String()
}

// TestOpenAPIDocumentIsValid checks /openapi.json is OpenAPI 3.1 and valid
// against the specification's schema, as libopenapi-validator has it.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	f := newFixture(t)
	doc, _ := f.openAPI()
	if info := doc.GetSpecInfo(); info.Version != "3.1.0" || info.SpecFormat != datamodel.OAS31 {
		t.Fatalf("the document is %s %s, want OpenAPI 3.1.0", info.SpecFormat, info.Version)
	}
	v, errs := validator.NewValidator(doc)
	if errs != nil {
		t.Fatalf("no validator for the document: %v", errs)
	}
	if valid, verrs := v.ValidateDocument(); !valid {
		t.Fatalf("the document is not valid OpenAPI 3.1:%s", describe(verrs))
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIMatchesRoutes checks the document has every registered
// operation, with its method, path, operationId, path parameters and
// role, and nothing the server does not serve.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	f := newFixture(t)
	_, m := f.openAPI()
	registered := map[string]bool{}
	for _, op := range f.srv.Ops() {
		registered[op.Method+" "+op.Path] = true
		item := m.Paths.PathItems.GetOrZero(op.Path)
		if item == nil {
			t.Errorf("%s: path %s is not in the document", op.ID, op.Path)
			continue
		}
		o := item.GetOperations().GetOrZero(strings.ToLower(op.Method))
		if o == nil {
			t.Errorf("%s: %s %s is not in the document", op.ID, op.Method, op.Path)
			continue
		}
		if o.OperationId != op.ID {
			t.Errorf("%s %s: operationId %q, want %q", op.Method, op.Path, o.OperationId, op.ID)
		}
		var want, got []string
		for _, p := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			want = append(want, p[1])
		}
		for _, p := range slices.Concat(item.Parameters, o.Parameters) {
			if p.In == "path" {
				got = append(got, p.Name)
				if p.Required == nil || !*p.Required {
					t.Errorf("%s: path parameter %s is not required", op.ID, p.Name)
				}
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: path parameters %v in the document, want %v", op.ID, got, want)
		}
		if role := o.Extensions.GetOrZero("x-ringmaster-role"); role == nil || role.Value != string(op.Role) {
			t.Errorf("%s: x-ringmaster-role is not %s", op.ID, op.Role)
		}
		if resp := o.Responses.Codes.GetOrZero("200"); resp == nil || resp.Content.GetOrZero("application/json") == nil {
			t.Errorf("%s: no 200 response in JSON", op.ID)
		}
		for _, mt := range op.Formats {
			if resp := o.Responses.Codes.GetOrZero("200"); resp == nil || resp.Content.GetOrZero(mt) == nil {
				t.Errorf("%s: its format %s is not among the 200 response's media types", op.ID, mt)
			}
		}
	}
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			if !registered[strings.ToUpper(method)+" "+path] {
				t.Errorf("the document has %s %s, which the server does not register", strings.ToUpper(method), path)
			}
		}
	}
	if len(registered) == 0 {
		t.Fatal("the server registers no operation")
	}
}

// TestOpenAPIResponsesConform makes every example call of every operation
// as an administrator over each kind of scope (so 200s and problem
// documents: 400, 403, 404, 409), once without a token (401), and in each
// format an operation offers, and validates each request and response
// against the document, strictly: a field the server sends that the
// document does not declare is an error (see closeObjects), and so is a
// date-time that is not one.
func TestOpenAPIResponsesConform(t *testing.T) {
	probe := newFixture(t)
	_, raw, _ := probe.do("GET", "/openapi.json", "", "")
	doc, err := libopenapi.NewDocument(closeObjects(t, raw))
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if errs != nil {
		t.Fatalf("no validator for the document: %v", errs)
	}
	statuses := map[int]bool{}
	check := func(t *testing.T, f *fixture, method, path, token, body, accept string) int {
		t.Helper()
		newReq := func() *http.Request {
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			req, err := http.NewRequest(method, f.http.URL+path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			return req
		}
		resp, err := f.http.Client().Do(newReq())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		statuses[resp.StatusCode] = true
		// The request as the server had it, to find the operation and
		// check what was sent; the response with its body to read again.
		// A request the document refuses, the server refuses too (the
		// examples send a few it must).
		req := newReq()
		if token != "" {
			if valid, verrs := v.ValidateHttpRequestSync(req); !valid && resp.StatusCode != bad {
				t.Errorf("%s %s %s: the server answered %d to a request the document refuses:%s", method, path, body, resp.StatusCode, describe(verrs))
			}
			req = newReq()
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if valid, verrs := v.ValidateHttpResponse(req, resp); !valid {
			t.Errorf("%s %s %s: the %d response (%s) does not conform:%s\n%.2000s", method, path, body, resp.StatusCode, resp.Header.Get("Content-Type"), describe(verrs), b)
		}
		return resp.StatusCode
	}
	for _, op := range probe.srv.Ops() {
		exs := examples[op.ID]
		if len(exs) == 0 {
			t.Errorf("operation %s has no example", op.ID)
		}
		t.Run(op.ID+"/no-token", func(t *testing.T) {
			path := strings.ReplaceAll(exs[0].path, "{rb-token}", "000000000000")
			if status := check(t, probe, op.Method, path, "", exs[0].body, ""); status != http.StatusUnauthorized {
				t.Errorf("without a token: %d", status)
			}
		})
		for i, ex := range exs {
			for si, sc := range scopes {
				t.Run(fmt.Sprintf("%s/%d/%s", op.ID, i, sc.name), func(t *testing.T) {
					f := newFixture(t)
					token := f.token("tester", access.Admin, sc.scope)
					path := f.examplePath(ex.path)
					if status := check(t, f, op.Method, path, token, ex.body, ""); status != ex.want[si] {
						t.Errorf("status %d, want %d", status, ex.want[si])
					}
					if ex.want[si] != ok {
						return
					}
					// Every other format by Accept, on a fresh estate where
					// the call changes it.
					for _, mt := range op.Formats {
						if strings.Contains(path, "format=") {
							continue
						}
						if op.Audit != "" {
							f = newFixture(t)
							token = f.token("tester", access.Admin, sc.scope)
						}
						if status := check(t, f, op.Method, path, token, ex.body, mt); status != ok {
							t.Errorf("as %s: status %d", mt, status)
						}
					}
				})
			}
		}
	}
	for _, st := range []int{ok, bad, http.StatusUnauthorized, forbidden, notFound, conflict} {
		if !statuses[st] {
			t.Errorf("no response had status %d: the examples no longer cover it", st)
		}
	}
}

// closeObjects returns the document with additionalProperties: false on
// every object schema that declares its properties and says nothing of
// others, so that the validator reports a field the server sends that
// the document does not declare. (libopenapi-validator's strict mode
// would also report the keys of every map.) The document served leaves
// them open, for a client of a later version.
func closeObjects(t *testing.T, doc []byte) []byte {
	t.Helper()
	var m any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"].(map[string]any); ok {
				if _, set := v["additionalProperties"]; !set {
					v["additionalProperties"] = false
				}
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
