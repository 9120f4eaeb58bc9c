package flows

// Reference renders the flow language reference (docs/flows.md) from the
// registered specs.
func Reference() string { return "# Flow language reference\n" }
