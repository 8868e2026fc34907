// Command ringmaster-executor-ssh is an example executor plugin: Windows
// devices over OpenSSH (Windows 10 ships OpenSSH Server), built the way an
// outside author would build one, on the public SDK only.
//
//	go build -o ringmaster-executor-ssh ./plugins/examples/ssh
//	ringmaster plugin install ./ringmaster-executor-ssh
//	ringmaster exec pc1.rxx.nhs.uk --executor ssh -- hostname
//
// Targets: Address host[:port] (default port 22), Username and Password.
// The server's host key is verified against Options["known_hosts"] (lines
// in OpenSSH known_hosts format); InsecureSkipVerify skips that, for tests.
package main

import "github.com/ringmaster-fleet/ringmaster/plugins/sdk"

func main() {
	sdk.Serve(New())
}
