// Package playbooks owns the playbook format (what Ringmaster does to one
// device: check it, upgrade or patch it, reboot it, verify the result, roll
// back what failed), its validation with file-and-line errors, and the
// quoting that keeps parameter and inventory values from ever becoming
// code. The engine that runs a playbook on a device through an executor
// comes next (see the issues). It may import inventory and nothing else of
// this repository.
package playbooks
