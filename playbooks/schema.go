package playbooks

import _ "embed"

// Schema is the playbook format's JSON Schema (draft 2020-12), published by
// `ringmaster playbook schema` for editors and CI checks.
//
//go:embed schema.json
var Schema []byte
