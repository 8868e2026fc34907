// Package metrics is what Ringmaster tells Prometheus: the campaigns'
// devices by state and the queue's depth (read from the stores' counts at
// each scrape), the control passes' time and the devices they dispatch,
// the devices finished by outcome and the executor's errors by kind (from
// the scheduler's hooks), and the API's requests by route and status.
//
// It keeps its own registry, so a process holds exactly what it serves at
// /metrics (the server mounts Handler behind its authentication).
package metrics
