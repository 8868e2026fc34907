// Package forecast says when a campaign will finish, per wave and per
// organisation, before it does: it replays the campaign's own controller
// (orchestrator.Decide) on a virtual clock, from the campaign's current
// state to its end, with its windows, blackouts, caps, soak, approval
// gates (a person's assumed delay), deferral backoff and deadline, drawing
// each device run's duration and outcome from a Model learned from what
// the campaign has observed so far. Many runs (Monte Carlo) give a P10,
// P50 and P90 finish for each, and the devices expected to be left failed,
// unreachable or not reached by the deadline.
//
// The replay is sized by the campaign's cohorts (wave, organisation,
// site) and its devices in flight, as the real controller's view is: it
// never holds a device record, only a few bytes a device.
//
// What is under way is taken as it stands (Input.Running): a device
// running when the forecast starts finishes after a run drawn longer
// than it has gone on, and the runs still going weigh the durations
// towards the long runs a young campaign has not seen finish (Profile's
// durations are its finished runs only).
//
// Pending devices take their real places in the dispatch order where the
// view can read them (its PendingReader), else each replay draws an order
// mixing the organisations. Run durations are a smoothed bootstrap of the
// observed ones (jittered by a log-normal of Silverman's bandwidth).
//
// It is pure: the caller reads the view and the model (campaigns.Service
// does, from the stores) and gives the time the forecast starts from.
package forecast
