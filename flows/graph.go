package flows

// Mermaid renders a flow as a Mermaid flowchart.
func Mermaid(f *Flow) string { return "flowchart TD\n" }
