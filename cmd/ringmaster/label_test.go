package main

import (
	"os"
	"testing"
)

// TestInventoryLabel walks changing labels without re-importing: by
// hostname and by selector, each change recorded with who made it and
// shown by 'inventory show'; a host not held or a change written wrong
// changes nothing.
func TestInventoryLabel(t *testing.T) {
	s := newScript(t)
	s.env["RINGMASTER_ACTOR"] = "ops"
	csv := "hostname,org,site,labels\npc1.rxx.nhs.uk,RXX,Leeds,ring=pilot\npc2.rxx.nhs.uk,RXX,York,\npc3.ryy.nhs.uk,RYY,Hull,\n"
	if err := os.WriteFile("devices.csv", []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	s.run("inventory", "import", "devices.csv", "--create-orgs")
	s.run("inventory", "label", "pc1.rxx.nhs.uk", "excluded=true", "owner=it")
	s.env["RINGMASTER_ACTOR"] = "alice"
	s.run("inventory", "label", "-l", "org=RXX", "ring=ring1")
	s.env["RINGMASTER_ACTOR"] = "ops"
	s.run("inventory", "label", "PC1.RXX.NHS.UK", "excluded-")
	s.run("inventory", "label", "pc1.rxx.nhs.uk", "nosuch.rxx.nhs.uk", "excluded=true")
	s.run("inventory", "label", "pc1.rxx.nhs.uk")
	s.run("inventory", "label", "-l", "org=RXX", "ring=a", "ring-")
	s.run("inventory", "label", "pc1.rxx.nhs.uk", "-l", "org=RXX", "ring=a")
	s.run("inventory", "list")
	s.run("inventory", "show", "pc1.rxx.nhs.uk")
	s.golden("label")
}
