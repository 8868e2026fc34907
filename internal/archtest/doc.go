// Package archtest holds no code: its test enforces the import direction
// between Ringmaster's packages (domain packages import nothing of storage,
// transport or the CLI), so the layout stays true as the code grows.
package archtest
