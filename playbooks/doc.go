// Package playbooks will own the playbook format (what Ringmaster does to one
// device: check, upgrade or patch, reboot, verify, roll back) and the engine
// that runs one playbook on one device through an executor. It may import
// inventory and nothing else of this repository. Nothing is implemented here
// yet; see the project's roadmap issues.
package playbooks
