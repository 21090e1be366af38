package load

import (
	"testing"
	"time"
)

// TestPacerNeverEarly: a pacer returns at or after each deadline (never before: a request
// released early would make its latency look shorter), for deadlines in the spin window,
// past the spin window, past one sleep chunk, and already past.
func TestPacerNeverEarly(t *testing.T) {
	done := make(chan []time.Duration)
	go func() {
		p := newPacer()
		var early []time.Duration
		for _, d := range []time.Duration{-time.Millisecond, 0, 5 * time.Microsecond, SpinLead, 200 * time.Microsecond, 2 * time.Millisecond, maxSleep + 3*time.Millisecond} {
			at := time.Now().Add(d)
			if !p.sleepUntil(at, nil) {
				early = append(early, -1)
			}
			if now := time.Now(); now.Before(at) {
				early = append(early, at.Sub(now))
			}
		}
		done <- early
	}()
	if early := <-done; len(early) > 0 {
		t.Errorf("the pacer returned before its deadline (by %v)", early)
	}
}

func TestPacerStop(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	res := make(chan bool)
	go func() { res <- newPacer().sleepUntil(time.Now().Add(time.Hour), stop) }()
	if <-res {
		t.Error("sleepUntil returned true for a stopped pacer")
	}
}

// TestDeadlineTimer: the timer fires at or after each deadline armed, and a later
// deadline armed while one is pending is waited for too.
func TestDeadlineTimer(t *testing.T) {
	dt := newDeadlineTimer()
	defer dt.Stop()
	for _, d := range []time.Duration{time.Millisecond, 3 * time.Millisecond} {
		at := time.Now().Add(d)
		dt.Arm(at)
		dt.Arm(at.Add(time.Millisecond)) // the head moved on: the later deadline is the one that counts
		deadline := at.Add(time.Millisecond)
		for {
			<-dt.C
			if !time.Now().Before(deadline) {
				break
			}
			if time.Now().Before(at) {
				t.Fatalf("fired before the first deadline armed")
			}
		}
	}
}
