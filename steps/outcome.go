package steps

import "fmt"

// String names the outcome kind, for logs and test failures.
func (k OutcomeKind) String() string {
	switch k {
	case Next:
		return "next"
	case Goto:
		return "goto"
	case Enter:
		return "enter"
	case WaitReply:
		return "wait_reply"
	case WaitUntil:
		return "wait_until"
	case Call:
		return "call"
	case End:
		return "end"
	case WaitSent:
		return "wait_sent"
	}
	return fmt.Sprintf("OutcomeKind(%d)", int(k))
}

// String names the input kind, for logs and error messages.
func (k InputKind) String() string {
	switch k {
	case Answer:
		return "answer"
	case Timeout:
		return "timeout"
	case Elapsed:
		return "elapsed"
	case Response:
		return "response"
	case Sent:
		return "sent"
	}
	return fmt.Sprintf("InputKind(%d)", int(k))
}
