package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/invopop/jsonschema"
)

// OpenAPI returns the OpenAPI 3.1 document of the registered operations:
// their paths, parameters (from In's tags), bodies and responses (from
// the Go types, as JSON Schema 2020-12), the roles they need, and the
// problem document every error is.
func (s *Server) OpenAPI() ([]byte, error) {
	schemas := map[string]any{}
	r := &jsonschema.Reflector{
		Namer: schemaName,
		// Mapper: time.Duration and json.RawMessage as JSON has them.
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			switch t {
			case reflect.TypeFor[json.RawMessage]():
				return &jsonschema.Schema{}
			}
			return nil
		},
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
				body = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref(f.Type)}}}
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
	pkg := t.PkgPath()
	pkg = pkg[strings.LastIndex(pkg, "/")+1:]
	name := t.Name()
	if pkg == "server" || pkg == "" {
		return nonWord.ReplaceAllString(name, "_")
	}
	if strings.HasPrefix(strings.ToLower(name), strings.ToLower(pkg)) {
		return nonWord.ReplaceAllString(name, "_")
	}
	return nonWord.ReplaceAllString(strings.ToUpper(pkg[:1])+pkg[1:]+name, "_")
}
