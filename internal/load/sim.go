package load

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ServiceModel gives the compute time of one batch, for the simulation.
type ServiceModel interface {
	// Sample draws the compute time of one batch of n requests.
	Sample(n int, r *rand.Rand) time.Duration
	// Mean is the mean compute time of a batch of n requests.
	Mean(n int) time.Duration
}

// Fixed is a deterministic service: a batch of n takes f(n).
type Fixed func(n int) time.Duration

func (f Fixed) Sample(n int, _ *rand.Rand) time.Duration { return f(n) }
func (f Fixed) Mean(n int) time.Duration                 { return f(n) }

// Exponential is a memoryless service: a batch of n takes an exponential time of mean f(n).
type Exponential func(n int) time.Duration

func (f Exponential) Sample(n int, r *rand.Rand) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(f(n)))
}
func (f Exponential) Mean(n int) time.Duration { return f(n) }

// Empirical resamples measured batch compute times. Batch sizes that were not measured
// borrow the samples of the nearest measured size below them (above, for sizes under the
// smallest), scaled so that their mean follows the line through the means of the two
// measured sizes around them (or of the two largest, beyond the largest: an extrapolation).
type Empirical struct {
	sizes []int               // measured batch sizes, ascending
	ms    map[int][]float64   // samples by measured size, milliseconds
	mean  map[int]float64     // mean by measured size
	cache map[int]empiricalAt // per requested size
}

type empiricalAt struct {
	from  int     // measured size whose samples are used
	scale float64 // factor applied to them
}

// NewEmpirical builds an Empirical from per-batch compute samples (milliseconds) by batch
// size. A size beyond the largest measured one needs two measured sizes to extrapolate.
func NewEmpirical(samplesMs map[int][]float64) (*Empirical, error) {
	e := &Empirical{ms: map[int][]float64{}, mean: map[int]float64{}, cache: map[int]empiricalAt{}}
	for b, s := range samplesMs {
		var ok []float64
		for _, v := range s {
			if v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v) {
				ok = append(ok, v)
			}
		}
		if b < 1 || len(ok) == 0 {
			continue
		}
		e.sizes = append(e.sizes, b)
		e.ms[b] = ok
		var sum float64
		for _, v := range ok {
			sum += v
		}
		e.mean[b] = sum / float64(len(ok))
	}
	if len(e.sizes) == 0 {
		return nil, fmt.Errorf("no service-time samples")
	}
	slices.Sort(e.sizes)
	return e, nil
}

// Covers reports whether batch sizes 1..n can be served: measured, interpolated, or
// extrapolated from at least two measured sizes.
func (e *Empirical) Covers(n int) error {
	if n <= e.sizes[len(e.sizes)-1] || len(e.sizes) >= 2 {
		return nil
	}
	return fmt.Errorf("service times were measured at batch size %d only: max batch %d needs measurements at two batch sizes or more (e.g. a sweep with batch_size [1, %d])", e.sizes[0], n, n)
}

// Describe says which sizes are measured and which are derived, up to max batch n.
func (e *Empirical) Describe(n int) string {
	var meas, interp, extrap []string
	largest := e.sizes[len(e.sizes)-1]
	for b := 1; b <= max(n, largest); b++ {
		_, ok := e.ms[b]
		switch {
		case ok:
			meas = append(meas, strconv.Itoa(b))
		case b > n:
		case b > largest:
			extrap = append(extrap, strconv.Itoa(b))
		default:
			interp = append(interp, strconv.Itoa(b))
		}
	}
	s := "measured at batch " + strings.Join(meas, ", ")
	if len(interp) > 0 {
		s += "; interpolated at " + strings.Join(interp, ", ")
	}
	if len(extrap) > 0 {
		s += "; extrapolated at " + strings.Join(extrap, ", ")
	}
	return s
}

func (e *Empirical) at(n int) empiricalAt {
	if a, ok := e.cache[n]; ok {
		return a
	}
	var a empiricalAt
	if _, ok := e.ms[n]; ok {
		a = empiricalAt{from: n, scale: 1}
	} else {
		a.from = e.sizes[0]
		i := sort.SearchInts(e.sizes, n) // first measured size > n (n is not measured)
		if i > 0 {
			a.from = e.sizes[i-1]
		}
		lo, hi := max(i-1, 0), min(i, len(e.sizes)-1)
		if i == len(e.sizes) && len(e.sizes) >= 2 {
			lo, hi = len(e.sizes)-2, len(e.sizes)-1
		}
		m := e.mean[e.sizes[lo]]
		if hi != lo {
			b0, b1 := float64(e.sizes[lo]), float64(e.sizes[hi])
			m = e.mean[e.sizes[lo]] + (float64(n)-b0)*(e.mean[e.sizes[hi]]-e.mean[e.sizes[lo]])/(b1-b0)
		}
		a.scale = max(m, 1e-6) / e.mean[a.from]
	}
	e.cache[n] = a
	return a
}

func (e *Empirical) Sample(n int, r *rand.Rand) time.Duration {
	a := e.at(n)
	s := e.ms[a.from]
	return time.Duration(s[r.IntN(len(s))] * a.scale * 1e6)
}

func (e *Empirical) Mean(n int) time.Duration {
	a := e.at(n)
	return time.Duration(e.mean[a.from] * a.scale * 1e6)
}

// Simulate runs the load of c through the same batcher and c.Instances instances as Run,
// as a discrete-event simulation with batch compute times drawn from svc: what a live run
// would measure on an otherwise idle machine whose instances do not slow each other down.
// Arrivals are exact (no generator lateness). Deterministic for a given c.Seed. A zero
// c.Timeout means DefaultTimeout(0, 10 x mean full batch).
func Simulate(c Config, svc ServiceModel) (*Outcome, error) {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout(0, svc.Mean(c.MaxBatch))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	sched := Schedule(c)
	out := &Outcome{Config: c, Requests: make([]Request, len(sched)), Batches: make([]Batch, 0, len(sched)), Simulated: true}
	reqs := out.Requests
	for i, s := range sched {
		reqs[i].Scheduled, reqs[i].Enqueued = s, s
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x51a1a7ed))
	busy := make([]time.Duration, c.Instances) // when each instance is free again
	queue := make([]int32, 0, len(sched))
	head, next := 0, 0
	var now time.Duration
	for next < len(sched) || head < len(queue) {
		for next < len(sched) && sched[next] <= now {
			r := &reqs[next]
			if c.QueueSize > 0 && len(queue)-head >= c.QueueSize {
				r.Status, r.Done = Dropped, sched[next]
			} else {
				queue = append(queue, int32(next))
			}
			next++
		}
		free := -1
		for head < len(queue) {
			free = -1
			for w, t := range busy {
				if t <= now && (free < 0 || t < busy[free]) {
					free = w
				}
			}
			if free < 0 {
				break
			}
			var n int
			if head, n = takeBatch(c, reqs, queue, head, now); n == 0 {
				break
			}
			d := svc.Sample(n, rng)
			busy[free] = now + d
			out.Batches = append(out.Batches, Batch{Size: n, Start: now, Compute: d})
			for _, i := range queue[head : head+n] {
				r := &reqs[i]
				r.Status, r.Dispatched, r.Done, r.Batch = Completed, now, now+d, int32(n)
			}
			head += n
		}
		// The next event: an arrival, the oldest request's max delay (an instance is idle),
		// or an instance becoming idle (all are busy).
		t := time.Duration(math.MaxInt64)
		if next < len(sched) {
			t = sched[next]
		}
		if head < len(queue) {
			if free >= 0 {
				t = min(t, reqs[queue[head]].Enqueued+c.MaxDelay())
			} else {
				t = min(t, slices.Min(busy))
			}
		}
		if t == time.Duration(math.MaxInt64) {
			break
		}
		now = max(t, now+1) // time always moves on
	}
	return out, nil
}
