// Package proto holds the executor plugin protocol (executor.proto) and the
// code protoc generates from it. Regenerate with `make proto`; `make
// verify-proto` fails if the committed code drifted. Nothing else in this
// repository is protobuf-aware: plugins/sdk converts at the boundary.
package proto
