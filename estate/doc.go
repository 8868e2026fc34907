// Package estate is the application layer of the inventory job: what a
// user does with the device inventory and its organisations (import a file,
// export or list the devices a selector picks, show one, remove some, sum
// the estate up per organisation, add, show and remove organisations) as Go
// calls the CLI, the HTTP server and tests make the same way.
//
// It is named for the job, not the data: package inventory is the domain
// (types, validation, the import rules) and inventory/format the file
// formats; this package puts them to work over a store it knows only
// through the small interfaces declared here (Devices, Organisations,
// Store), whose method names are the stores' own, and an Importer for the
// one transactional write. It parses no flags and prints nothing: it hands
// back values (Summary, Org, OrgDetail, ImportReport) whose JSON form is the
// stable one the CLI writes.
//
// Time is injected (ImportOptions.Now); nothing here reads the wall clock.
package estate
