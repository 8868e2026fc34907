package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/invopop/jsonschema"
)

// OpenAPI returns the OpenAPI 3.1 document of the registered operations:
// their paths, parameters (from In's tags), bodies and responses (from
// the Go types, as JSON Schema 2020-12), the roles they need, and the
// problem document every error is.
func (s *Server) OpenAPI() ([]byte, error) {
	schemas := map[string]any{}
	r := &jsonschema.Reflector{
		Namer:                     schemaName,
		Mapper:                    mapType,
		AllowAdditionalProperties: true,
	}
	ref := func(t reflect.Type) map[string]any {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		sc := r.ReflectFromType(t)
		b, err := json.Marshal(sc)
		if err != nil {
			panic(err)
		}
		b = bytes.ReplaceAll(b, []byte(`"#/$defs/`), []byte(`"#/components/schemas/`))
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			panic(err)
		}
		delete(m, "$schema")
		delete(m, "$id")
		if defs, ok := m["$defs"].(map[string]any); ok {
			for k, v := range defs {
				schemas[k] = v
			}
			delete(m, "$defs")
		}
		nullPointers(t, schemas, map[reflect.Type]bool{})
		return m
	}
	problemRef := map[string]any{"$ref": "#/components/schemas/Problem"}
	ref(reflect.TypeFor[Problem]())
	paths := map[string]map[string]any{}
	for _, op := range s.ops {
		var params []any
		var body map[string]any
		for i := range op.in.NumField() {
			f := op.in.Field(i)
			doc := f.Tag.Get("doc")
			switch {
			case f.Tag.Get("path") != "":
				params = append(params, map[string]any{"name": f.Tag.Get("path"), "in": "path", "required": true,
					"description": doc, "schema": paramSchema(f.Type)})
			case f.Tag.Get("query") != "":
				params = append(params, map[string]any{"name": f.Tag.Get("query"), "in": "query",
					"description": doc, "schema": paramSchema(f.Type)})
			case f.Name == "Body":
				// decodeBody refuses a field the body does not have.
				sc := ref(f.Type)
				sc["additionalProperties"] = false
				body = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": sc}}}
			case f.Type == uploadType:
				content := map[string]any{}
				for _, m := range strings.Split(f.Tag.Get("upload"), ",") {
					sc := map[string]any{"type": "string", "description": doc}
					if m == "application/json" {
						sc = map[string]any{"type": "array", "items": map[string]any{"type": "object"}, "description": doc}
					}
					content[m] = map[string]any{"schema": sc}
				}
				body = map[string]any{"required": true, "content": content}
			}
		}
		if len(op.Formats) > 0 {
			formats := []any{"json"}
			for _, m := range op.Formats {
				formats = append(formats, shortFormat(m))
			}
			params = append(params, map[string]any{"name": "format", "in": "query",
				"description": "the response's format (or send Accept)", "schema": map[string]any{"type": "string", "enum": formats}})
		}
		content := map[string]any{"application/json": map[string]any{"schema": ref(op.out)}}
		for _, m := range op.Formats {
			content[m] = map[string]any{"schema": map[string]any{"type": "string"}}
		}
		desc := "Needs the role " + string(op.Role) + " or higher."
		if op.Audit != "" {
			desc += " A change: recorded in the audit trail as " + op.Audit + "."
		}
		o := map[string]any{
			"operationId": op.ID, "summary": op.Summary, "description": desc, "tags": []string{op.Tag},
			"security": []any{map[string]any{"bearer": []any{}}},
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK", "content": content},
				"default": map[string]any{"description": "An error, as an RFC 9457 problem document", "content": map[string]any{"application/problem+json": map[string]any{"schema": problemRef}}},
			},
			"x-ringmaster-role": string(op.Role),
		}
		if params != nil {
			o["parameters"] = params
		}
		if body != nil {
			o["requestBody"] = body
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	doc := map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Ringmaster API", "version": s.cfg.Version,
			"description": "Every organisation's view of the estate and its campaigns. Authenticate with an API token (ringmaster token create) as a bearer token; each operation says the least role it needs, and the token's scope bounds what it reads and changes."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token: rmt_<id>_<secret>"}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	doc, err := s.openapi()
	if err != nil {
		writeProblem(w, r, "", &Problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(doc)
}

// mapType gives the schemas of the types whose JSON is not their
// fields': json.RawMessage is any JSON, a struct that marshals as text
// (access.Scope) is a string. Another type with its own MarshalJSON would
// be described wrong, so it stops the document being made until it is
// given its schema here.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
		return &jsonschema.Schema{}
	case t == reflect.TypeFor[time.Time]():
		return nil // invopop's own: a string, format date-time
	case implements[json.Marshaler](t):
		panic("server: the OpenAPI document cannot describe " + t.String() + ", which marshals its own JSON: give it a schema in mapType")
	case t.Kind() == reflect.Struct && implements[encoding.TextMarshaler](t):
		return &jsonschema.Schema{Type: "string"}
	}
	return nil
}

func implements[I any](t reflect.Type) bool {
	i := reflect.TypeFor[I]()
	return t.Implements(i) || reflect.PointerTo(t).Implements(i)
}

// nullPointers makes nullable, in the schemas of t's named struct types
// and those they hold, the properties of pointer fields that JSON has as
// null when nil (those without omitempty or omitzero): invopop's
// reflector has them as their element alone.
func nullPointers(t reflect.Type, schemas map[string]any, seen map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || t == reflect.TypeFor[time.Time]() || mapType(t) != nil {
		return
	}
	seen[t] = true
	var props map[string]any
	if sc, ok := schemas[schemaName(t)].(map[string]any); ok && t.Name() != "" {
		props, _ = sc["properties"].(map[string]any)
	}
	var fields func(t reflect.Type)
	fields = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() && !f.Anonymous {
				continue
			}
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				fields(f.Type) // its fields are the embedder's
				continue
			}
			nullPointers(f.Type, schemas, seen)
			if name == "" {
				name = f.Name
			}
			omitted := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
			if f.Type.Kind() != reflect.Pointer || omitted || props == nil {
				continue
			}
			if p, ok := props[name].(map[string]any); ok {
				props[name] = nullable(p)
			}
		}
	}
	fields(t)
}

// nullable is the schema p or null.
func nullable(p map[string]any) map[string]any {
	if typ, ok := p["type"].(string); ok {
		p["type"] = []any{typ, "null"}
		return p
	}
	if _, ok := p["anyOf"]; ok {
		return p
	}
	out := map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
	if d, ok := p["description"]; ok {
		out["description"] = d
		delete(p, "description")
	}
	return out
}

func paramSchema(t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	}
	return map[string]any{"type": "string"}
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]`)

// schemaName names a type's schema by its package and name, so that
// campaigns.Summary and estate.Summary do not collide.
func schemaName(t reflect.Type) string {
	return qualifiedName(t.PkgPath(), t.Name())
}

// qualifiedName is schemaName's of the type name in the package at path.
// A generic type is named for its arguments then itself: List[T] of
// server.Playbook is PlaybookList.
func qualifiedName(path, name string) string {
	pkg := path[strings.LastIndex(path, "/")+1:]
	if base, args, ok := strings.Cut(name, "["); ok {
		var b strings.Builder
		for _, arg := range strings.Split(strings.TrimSuffix(args, "]"), ",") {
			dot := strings.LastIndex(arg, ".")
			if dot < 0 {
				b.WriteString(qualifiedName("", arg))
				continue
			}
			b.WriteString(qualifiedName(arg[:dot], arg[dot+1:]))
		}
		return b.String() + qualifiedName(path, base)
	}
	if pkg == "server" || pkg == "" {
		return nonWord.ReplaceAllString(name, "_")
	}
	if strings.HasPrefix(strings.ToLower(name), strings.ToLower(pkg)) {
		return nonWord.ReplaceAllString(name, "_")
	}
	return nonWord.ReplaceAllString(strings.ToUpper(pkg[:1])+pkg[1:]+name, "_")
}
