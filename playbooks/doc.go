// Package playbooks owns the playbook format (what Ringmaster does to one
// device: check it, upgrade or patch it, reboot it, verify the result, roll
// back what failed), its validation with file-and-line errors, the quoting
// that keeps parameter and inventory values from ever becoming code, and
// the Engine that runs one playbook on one device through an executor.
//
// The engine knows nothing of storage or scheduling. It emits events
// (steps started and finished, output, facts, the outcome) to a Sink its
// caller provides; each finished step carries a Checkpoint that, stored
// and handed back in Run.Resume, continues the run without repeating a
// completed step. Outcomes carry a machine-readable Reason. Reboots are
// waited out by polling the device's boot time with backoff through an
// injected Clock, never by a fixed sleep.
//
// It may import inventory and the executor SDK's contract (plugins/sdk)
// and nothing else of this repository.
package playbooks
