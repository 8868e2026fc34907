package winrm

// Dials is how many connections e has opened.
func Dials(e *Executor) int64 { return e.dials.Load() }

// Kept is how many sessions e keeps idle.
func Kept(e *Executor) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nidle
}
