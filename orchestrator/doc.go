// Package orchestrator will own campaigns, waves and the scheduler that
// drives playbooks across the estate in rings: the wave controller computes
// a plan from a read-only view of state and the clock, and River jobs apply
// it. It depends on the domain packages (inventory, playbooks), never the
// reverse. Nothing is implemented here yet; see the project's roadmap issues.
package orchestrator
