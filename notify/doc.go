// Package notify tells people what needs them: a wave halted, a wave
// awaiting approval, a campaign done, an alert's deadline at risk for an
// organisation. It owns the events (each with a key, so that the same
// happening is sent once per subscription however many control passes or
// restarts see it), the subscriptions (per organisation or national) and
// the store contract that keeps them with an outbox of deliveries, the
// rendering (JSON, a Teams/Slack-compatible {"text": ...}, a plain-text
// email), the signing of webhook bodies (HMAC-SHA256 over a timestamp and
// the body) and delivery with retries and backoff.
//
// Events are derived where state changes are decided: the scheduler hands
// every plan it applied to PlanEvents (through Notifier.Applied), and the
// snapshotter its compliance figures to AtRiskEvents (through
// Notifier.Compliance). Emit records one delivery per matching
// subscription in the store, durably; Run delivers them, so a delivery
// that failed while the process stopped is tried again when it runs again.
// Secrets (a webhook's signing secret, an SMTP password) are never stored:
// a subscription names a file read at send time, and no error or log line
// carries a secret or a webhook's full URL. A subscription is added in two
// steps a caller can put its own checks between: Subscription.Prepare
// (secret files made absolute and checked, settings validated, before any
// store is touched) and Subscribe (the organisation must be the
// inventory's, then it is stored).
package notify
