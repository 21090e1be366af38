package load

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Instance is one model replica. Every call happens on the OS thread that created it.
type Instance interface {
	// Infer runs one batch of n requests and returns when its outputs are ready.
	Infer(n int) error
	Close() error
}

// Service makes the instances of a pool.
type Service interface {
	// NewInstance makes instance id (0-based). It is called on the instance's own OS
	// thread, locked for the instance's lifetime, one instance after the other (instance 0
	// first), so per-thread settings such as libtorch's intra-op thread count apply to it.
	NewInstance(id int) (Instance, error)
}

// Status of a request.
type Status uint8

// Request statuses.
const (
	Pending   Status = iota // never resolved (only inside a run)
	Completed               // its batch ran
	TimedOut                // still queued Timeout after its scheduled time, or unfinished at the end
	Dropped                 // refused by a full queue
)

// Request is one request of a run. Times are offsets from the run's start.
type Request struct {
	Scheduled  time.Duration // when it was meant to arrive (latency is measured from here)
	Enqueued   time.Duration // when the generator actually released it
	Dispatched time.Duration // when its batch started
	Done       time.Duration // when its batch ended (or when it was found timed out / dropped)
	Batch      int32         // the size of its batch
	Status     Status
}

// Batch is one batch a run executed.
type Batch struct {
	Size    int
	Start   time.Duration // offset from the run's start
	Compute time.Duration // wall time of Infer
}

// Outcome is everything a run (or its simulation) did.
type Outcome struct {
	Config    Config
	Requests  []Request // in scheduled order, warm-up included
	Batches   []Batch   // in dispatch order
	Simulated bool
}

// Pool is a set of running instances, each a goroutine locked to its own OS thread. Runs
// use it one at a time.
type Pool struct {
	work   []chan job
	wg     sync.WaitGroup
	mu     sync.Mutex
	broken bool
	closed bool
}

type job struct {
	batch int // index in the run's batches
	size  int
	start time.Time
	done  chan<- completion
}

type completion struct {
	worker, batch int
	t0, t1        time.Duration
	err           error
}

// StartPool starts n instances of svc, one after the other. If one fails, the ones
// already started are closed and its error is returned.
func StartPool(svc Service, n int) (*Pool, error) {
	if n < 1 {
		return nil, fmt.Errorf("--instances must be >= 1, got %d", n)
	}
	p := &Pool{}
	for id := range n {
		work := make(chan job, 1)
		ready := make(chan error, 1)
		p.wg.Add(1)
		go p.worker(svc, id, work, ready)
		if err := <-ready; err != nil {
			close(work)
			p.Close()
			return nil, fmt.Errorf("instance %d: %w", id+1, err)
		}
		p.work = append(p.work, work)
	}
	return p, nil
}

// worker runs one instance. Its goroutine keeps its OS thread locked and exits with it, so
// the thread (and any per-thread library state) ends with the instance.
func (p *Pool) worker(svc Service, id int, work <-chan job, ready chan<- error) {
	defer p.wg.Done()
	runtime.LockOSThread()
	inst, err := svc.NewInstance(id)
	ready <- err
	if err != nil {
		return
	}
	defer inst.Close()
	for j := range work {
		t0 := time.Since(j.start)
		err := inst.Infer(j.size)
		t1 := time.Since(j.start)
		j.done <- completion{worker: id, batch: j.batch, t0: t0, t1: t1, err: err}
	}
}

// Size returns the number of instances.
func (p *Pool) Size() int { return len(p.work) }

// Close stops the instances and waits (up to 10 s) for them to finish their batch.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for _, w := range p.work {
		close(w)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	return nil
}

// drainGrace is how long a run waits, after the last arrival plus the timeout, for the
// batches still running before it gives up on them.
const drainGrace = 10 * time.Second

// startLead is how far in the future the first arrival is scheduled, so that the
// generator is not late from the start.
//
// The generator releases each request at its scheduled time with a pacer (an absolute
// clock_nanosleep on its own OS thread, then a short spin; see pacer), and the batcher's
// max delay is timed the same way, rather than with Go timers, which fire about 0.5 ms late.
const startLead = 5 * time.Millisecond

// Run offers the traffic of c to the pool: the schedule of Schedule(c), through the
// batcher, to the instances, and returns what happened to every request. c.Instances is
// ignored (the pool's size is used) and a zero c.Timeout means DefaultTimeout(0, 0). The
// Go garbage collector is paused during the run (everything is allocated up front).
func (p *Pool) Run(ctx context.Context, c Config) (*Outcome, error) {
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return nil, fmt.Errorf("load: pool is closed")
	case p.broken:
		p.mu.Unlock()
		return nil, ErrPoolBroken
	}
	p.mu.Unlock()
	c.Instances = p.Size()
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout(0, 0)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sched := Schedule(c)
	out := &Outcome{Config: c, Requests: make([]Request, len(sched)), Batches: make([]Batch, 0, len(sched))}
	for i, s := range sched {
		out.Requests[i].Scheduled = s
	}
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	type arrival struct {
		i  int32
		at time.Duration
	}
	start := time.Now().Add(startLead)
	arrivals := make(chan arrival, len(sched))
	stopGen := make(chan struct{})
	defer close(stopGen)
	go func() {
		defer close(arrivals)
		pc := newPacer() // this goroutine's thread, for good
		for i, s := range sched {
			if !pc.sleepUntil(start.Add(s), stopGen) {
				return
			}
			arrivals <- arrival{int32(i), time.Since(start)}
		}
	}()

	reqs := out.Requests
	done := make(chan completion, p.Size())
	queue := make([]int32, 0, len(sched)) // append-only: batches are subslices of it
	head := 0
	members := make([][]int32, 0, len(sched))
	idle := make([]int, 0, p.Size())
	for w := range p.Size() {
		idle = append(idle, w)
	}
	inflight := 0
	timer := newDeadlineTimer() // the max delay, as precise as the generator
	defer timer.Stop()
	armed := time.Duration(-1)
	var drain <-chan time.Time
	in := arrivals

	for {
		now := time.Since(start)
		for len(idle) > 0 && head < len(queue) {
			var n int
			if head, n = takeBatch(c, reqs, queue, head, now); n == 0 {
				break
			}
			w := idle[len(idle)-1] // the instance idle most recently: its caches are warmest
			idle = idle[:len(idle)-1]
			members = append(members, queue[head:head+n])
			out.Batches = append(out.Batches, Batch{Size: n})
			head += n
			inflight++
			p.work[w] <- job{batch: len(out.Batches) - 1, size: n, start: start, done: done}
		}
		if in == nil && head == len(queue) && inflight == 0 {
			return out, nil // every request resolved
		}
		var wait <-chan struct{}
		if len(idle) > 0 && head < len(queue) {
			if d := reqs[queue[head]].Enqueued + c.MaxDelay(); d != armed {
				timer.Arm(start.Add(d))
				armed = d
			}
			wait = timer.C
		}
		select {
		case a, ok := <-in:
			if !ok {
				in = nil
				drain = time.After(c.Timeout + drainGrace)
				continue
			}
			r := &reqs[a.i]
			r.Enqueued = a.at
			if c.QueueSize > 0 && len(queue)-head >= c.QueueSize {
				r.Status, r.Done = Dropped, a.at
				continue
			}
			queue = append(queue, a.i)
		case cp := <-done:
			if cp.err != nil {
				p.abandon(inflight - 1)
				return nil, fmt.Errorf("instance %d: batch of %d: %w", cp.worker+1, out.Batches[cp.batch].Size, cp.err)
			}
			inflight--
			idle = append(idle, cp.worker)
			b := &out.Batches[cp.batch]
			b.Start, b.Compute = cp.t0, cp.t1-cp.t0
			for _, i := range members[cp.batch] {
				r := &reqs[i]
				r.Status, r.Dispatched, r.Done, r.Batch = Completed, cp.t0, cp.t1, int32(b.Size)
			}
		case <-wait:
		case <-drain:
			// Batches still running after the last arrival + timeout + grace: give up on them.
			now := time.Since(start)
			for i := range reqs {
				if reqs[i].Status == Pending {
					reqs[i].Status, reqs[i].Done = TimedOut, now
				}
			}
			p.abandon(inflight)
			return out, nil
		case <-ctx.Done():
			p.abandon(inflight)
			return nil, ctx.Err()
		}
	}
}

// abandon marks the pool unusable when batches are left running.
func (p *Pool) abandon(inflight int) {
	if inflight > 0 {
		p.mu.Lock()
		p.broken = true
		p.mu.Unlock()
	}
}

// takeBatch is the batcher's rule, shared by the live engine and the simulation: it first
// times out the queued requests (from head) scheduled more than c.Timeout before now, then
// returns the new head and the size of the batch an idle instance takes now — up to
// c.MaxBatch of the oldest requests, once c.MaxBatch are queued or the oldest has waited
// c.MaxDelay since it was enqueued — or 0 when it should wait.
func takeBatch(c Config, reqs []Request, queue []int32, head int, now time.Duration) (int, int) {
	for head < len(queue) && now-reqs[queue[head]].Scheduled > c.Timeout {
		r := &reqs[queue[head]]
		r.Status, r.Done = TimedOut, now
		head++
	}
	n := len(queue) - head
	if n == 0 || (n < c.MaxBatch && now-reqs[queue[head]].Enqueued < c.MaxDelay()) {
		return head, 0
	}
	return head, min(n, c.MaxBatch)
}
