package kit

// The one rule for text the controller writes into the API: condition
// messages and Event notes are cut to what the API server accepts (a
// condition message holds at most 32768 bytes, an events.k8s.io note at
// most 1024), on a rune boundary, ending in "..." where cut. Every
// condition goes through SetCondition and every Event through Flush (or
// Note), so an error text of any length (a Velero validation error, a
// server's answer) never makes a status patch or an Event fail.
const (
	MaxMessage = 32768
	MaxNote    = 1024
)

// Message bounds a condition message.
func Message(s string) string { return Truncate(s, MaxMessage) }

// Note bounds an Event note.
func Note(s string) string { return Truncate(s, MaxNote) }

// Truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}
