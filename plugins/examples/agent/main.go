package main

import "github.com/ringmaster-fleet/ringmaster/plugins/sdk"

func main() {
	sdk.Serve(New())
}
