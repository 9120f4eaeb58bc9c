package engine

import (
	"testing"
	"time"
)

// TestTimerSetWakesOnlyForEarlier: a timer committed while the timer loop
// reads what is due wakes it (the read may have missed the timer), and so
// does one due before the loop's next wake; one due at or after that wake
// leaves it asleep, since it will read the store then anyway.
func TestTimerSetWakesOnlyForEarlier(t *testing.T) {
	e := &Engine{timerKick: make(chan struct{}, 1)}
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	kicked := func() bool {
		select {
		case <-e.timerKick:
			return true
		default:
			return false
		}
	}
	e.timerSet(base.Add(time.Hour))
	if !kicked() {
		t.Error("a timer set while the loop reads did not wake it")
	}
	e.timerWake.Store(base.Add(time.Minute).UnixNano())
	for _, due := range []time.Time{base.Add(time.Hour), base.Add(time.Minute)} {
		e.timerSet(due)
		if kicked() {
			t.Errorf("a timer due %s woke the loop, which wakes at %s", due, base.Add(time.Minute))
		}
	}
	e.timerSet(base.Add(10 * time.Second))
	if !kicked() {
		t.Error("a timer due before the loop's wake did not wake it")
	}
}
