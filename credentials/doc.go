// Package credentials is the application layer of the credentials
// executors log on with: adding one (its secret sealed with the key in the
// key file) and removing one, the same from the CLI, an HTTP server or a
// test. Package credential (the domain) owns the sealing and the key file;
// this package owns the policy of which key seals: a key file is created
// only while no credential is stored, and after that every credential must
// be sealed with the stored ones' key, which the store recognises by a
// check value. Stores come in through the Store interface declared here,
// whose methods are the stores' own.
package credentials
