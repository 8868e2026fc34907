// Package store opens Ringmaster's database and hands out its stores as
// the contracts their consumers declare:
//
//	db, err := store.Open(ctx, "ringmaster.db", store.Options{})          // the embedded SQLite file
//	db, err := store.Open(ctx, "postgres://host/ringmaster", store.Options{}) // PostgreSQL, for several nodes
//	inv := db.Inventory()                                                  // a store.Inventory
//
// Each store type here (Inventory, Campaigns, Alerts, History,
// Credentials, Plugins, Notifications) is the union of what the domain
// and the application packages take of that store: what the wiring hands
// on, and what every engine is held to by the conformance suites in
// store/storetest. The engines are store/sqlite (the default: one file,
// one node) and store/postgres (one database shared by several nodes);
// what only one engine has (SQLite's integrity check, the job queue's
// connections) is reached through the concrete *SQLite or *Postgres.
//
// Only the commands' wiring opens a database; the application packages
// receive its stores through their own interfaces.
package store
