package load

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// A pacer waits until absolute times more precisely than Go's timers: Go's timers fire
// late by the scheduler's granularity (measured here: p50 0.55 ms, p99 1.1 ms), which
// would bias every request latency of an open-loop run by as much. A pacer sleeps with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on its own OS thread, with the thread's
// timer slack at 1 ns (Linux adds 50 us to a normal thread's sleeps by default), until
// SpinLead before the deadline, then spins on the clock to the deadline.
//
// Measured on this 2-CPU VM (load average 9-10 from other work): waking at 1 ms intervals
// a plain absolute sleep was p50 70 us late, with 1 ns slack 20 us, with slack and a 20 us
// spin 0.6 us; the tail (p99 1.4-7 ms at that load) is the run queue, which no sleep avoids.
type pacer struct {
	t0 time.Time // a Go time read together with m0
	m0 int64     // CLOCK_MONOTONIC at t0, ns
}

// SpinLead is how long before a deadline a pacer stops sleeping and spins: about the
// wake-up latency of an absolute sleep with 1 ns timer slack on a VM.
const SpinLead = 30 * time.Microsecond

// maxSleep bounds one sleep, so that a stop request is seen within it.
const maxSleep = 20 * time.Millisecond

// newPacer must be called on the OS thread that will sleep, locked to its goroutine for
// good (runtime.LockOSThread without unlocking, so that the thread, and its timer slack,
// ends with the goroutine). Go's monotonic clock is CLOCK_MONOTONIC on Linux: the pacer
// relates the two with the closest pair of readings of five.
func newPacer() *pacer {
	runtime.LockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) // best effort: without it, sleeps end ~50 us later
	p := &pacer{}
	best := time.Duration(1 << 62)
	for range 5 {
		var ts unix.Timespec
		a := time.Now()
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			continue
		}
		b := time.Now()
		if d := b.Sub(a); d < best {
			best, p.t0, p.m0 = d, a.Add(d/2), ts.Nano()
		}
	}
	return p
}

// sleepUntil returns at t (or just after), or early with false once stop is closed.
func (p *pacer) sleepUntil(t time.Time, stop <-chan struct{}) bool {
	for {
		select {
		case <-stop:
			return false
		default:
		}
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		if d <= SpinLead {
			for time.Now().Before(t) {
			}
			return true
		}
		wake := t.Add(-SpinLead)
		if d-SpinLead > maxSleep {
			wake = time.Now().Add(maxSleep)
		}
		ts := unix.NsecToTimespec(p.m0 + int64(wake.Sub(p.t0)))
		if err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil); err != nil && err != unix.EINTR {
			time.Sleep(time.Until(wake)) // no clock_nanosleep: a Go timer is late but correct
		}
	}
}

// deadlineTimer fires C at the deadlines it is armed with, timed by a pacer on its own
// OS thread: the batcher's max-delay. Deadlines must be armed in non-decreasing order
// (the batcher's are: the oldest queued request's arrival plus the max delay). A
// deadline armed while an earlier one is pending is waited for after it; C may therefore
// fire for a deadline no longer needed, which the batcher's loop treats as a spurious
// wake-up.
type deadlineTimer struct {
	C    chan struct{}
	arm  chan time.Time
	stop chan struct{}
}

func newDeadlineTimer() *deadlineTimer {
	dt := &deadlineTimer{C: make(chan struct{}, 1), arm: make(chan time.Time, 64), stop: make(chan struct{})}
	go func() {
		p := newPacer()
		for {
			var t time.Time
			select {
			case t = <-dt.arm:
			case <-dt.stop:
				return
			}
			for more := true; more; { // the latest deadline armed
				select {
				case t2 := <-dt.arm:
					t = t2
				default:
					more = false
				}
			}
			if !p.sleepUntil(t, dt.stop) {
				return
			}
			select {
			case dt.C <- struct{}{}:
			default:
			}
		}
	}()
	return dt
}

// Arm asks for C to fire at t.
func (dt *deadlineTimer) Arm(t time.Time) {
	for {
		select {
		case dt.arm <- t:
			return
		default: // 64 deadlines pending: only the latest matters, and t is later than these
		}
		select {
		case <-dt.arm:
		default:
		}
	}
}

// Stop ends the timer's goroutine (and its thread).
func (dt *deadlineTimer) Stop() { close(dt.stop) }
