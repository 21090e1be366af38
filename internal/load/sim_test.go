package load

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/knobs"
)

func TestMinRequestsLoadGenCounts(t *testing.T) {
	// design.md: MLPerf LoadGen's early-stopping counts at 99% confidence, one sample over.
	for _, tc := range []struct {
		q    float64
		want int
	}{{50, 11}, {90, 64}, {95, 130}, {99, 662}} {
		if got := MinRequests(tc.q); got != tc.want {
			t.Errorf("MinRequests(%g) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if MinRequests(0) != 0 || MinRequests(100) != 0 {
		t.Error("MinRequests out of range must be 0")
	}
}

func TestCheckDuration(t *testing.T) {
	if err := CheckDuration(40, 30*time.Second, "p99"); err != nil {
		t.Errorf("40 req/s x 30 s = 1200 >= 662: %v", err)
	}
	err := CheckDuration(40, 2*time.Second, "p99")
	if err == nil {
		t.Fatal("40 req/s x 2 s = 80 requests must be too short for p99")
	}
	for _, w := range []string{"duration too short", "80 requests", "p99 claim needs >= 662", "--duration >= 16.6s"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if err := CheckDuration(40, time.Second, "p77"); err == nil || !strings.Contains(err.Error(), "--latency-pct") {
		t.Errorf("unknown percentile: %v", err)
	}
	if d := StepDuration(10, time.Second, "p95"); d != 26*time.Second {
		t.Errorf("StepDuration(10 req/s, 1 s, p95) = %s, want 26s (2 x 130 requests)", d)
	}
	if d := StepDuration(1000, 5*time.Second, "p95"); d != 5*time.Second {
		t.Errorf("StepDuration(1000 req/s, 5 s, p95) = %s, want the 5 s minimum", d)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Serving: knobs.Serving{OfferedRPS: 10, Arrival: Poisson, Instances: 1, MaxBatch: 1}, Duration: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.OfferedRPS = 0 }, "--rate"},
		{func(c *Config) { c.OfferedRPS = -3 }, "--rate"},
		{func(c *Config) { c.OfferedRPS = math.Inf(1) }, "--rate"},
		{func(c *Config) { c.Arrival = "bursty" }, "--arrival"},
		{func(c *Config) { c.Duration = 0 }, "--duration"},
		{func(c *Config) { c.Warmup = -time.Second }, "--warmup"},
		{func(c *Config) { c.Instances = 0 }, "--instances"},
		{func(c *Config) { c.MaxBatch = 0 }, "--max-batch"},
		{func(c *Config) { c.MaxDelayMs = -1 }, "--max-delay"},
		{func(c *Config) { c.Timeout = -1 }, "--timeout"},
		{func(c *Config) { c.QueueSize = -1 }, "--queue-size"},
	} {
		c := good
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", c, err, tc.want)
		}
	}
}

func TestSchedule(t *testing.T) {
	c := Config{Serving: knobs.Serving{OfferedRPS: 200, Arrival: Poisson}, Duration: 50 * time.Second, Seed: 7}
	a, b := Schedule(c), Schedule(c)
	if !slices.Equal(a, b) {
		t.Fatal("the same config must give the same schedule")
	}
	c.Seed = 8
	if slices.Equal(a, Schedule(c)) {
		t.Error("another seed must give another schedule")
	}
	// 10000 expected arrivals: the count is within 4 sd (sqrt(10000) = 100).
	if n := len(a); n < 9600 || n > 10400 {
		t.Errorf("Poisson: %d arrivals in 50 s at 200 req/s", n)
	}
	if !slices.IsSorted(a) || a[0] < 0 || a[len(a)-1] >= 50*time.Second {
		t.Error("arrivals must be sorted, within [0, 50 s)")
	}
	// Exponential gaps: coefficient of variation ~1.
	var sum, sq float64
	prev := time.Duration(0)
	for _, x := range a {
		g := (x - prev).Seconds()
		sum += g
		sq += g * g
		prev = x
	}
	n := float64(len(a))
	mean := sum / n
	cv := math.Sqrt(sq/n-mean*mean) / mean
	if math.Abs(mean-1.0/200) > 0.0002 || math.Abs(cv-1) > 0.05 {
		t.Errorf("Poisson gaps: mean %g s (want 0.005), CV %g (want 1)", mean, cv)
	}
	cc := Config{Serving: knobs.Serving{OfferedRPS: 40, Arrival: Constant}, Warmup: time.Second, Duration: 2 * time.Second}
	s := Schedule(cc)
	if len(s) != 120 || s[1] != 25*time.Millisecond || s[119] != 2975*time.Millisecond {
		t.Errorf("constant: %d arrivals, %v, ..., %v; want 120 every 25 ms", len(s), s[1], s[len(s)-1])
	}
}

// meanWait is the mean queue wait (scheduled arrival to dispatch) of the completed
// requests in the window, seconds.
func meanWait(o *Outcome) float64 {
	var sum float64
	n := 0
	for _, r := range o.Requests {
		if r.Status == Completed && r.Scheduled >= o.Config.Warmup {
			sum += (r.Dispatched - r.Scheduled).Seconds()
			n++
		}
	}
	return sum / float64(n)
}

// The simulation is exact: long runs must match queueing theory closely.
func TestSimulateMD1(t *testing.T) {
	const s = 10 * time.Millisecond
	for _, rho := range []float64{0.3, 0.5, 0.8} {
		lambda := rho / s.Seconds()
		c := Config{Serving: knobs.Serving{OfferedRPS: lambda, Arrival: Poisson, Instances: 1, MaxBatch: 1},
			Warmup: 100 * time.Second, Duration: 3000 * time.Second, Timeout: time.Hour, Seed: 1}
		o, err := Simulate(c, Fixed(func(int) time.Duration { return s }))
		if err != nil {
			t.Fatal(err)
		}
		want := rho * s.Seconds() / (2 * (1 - rho)) // Pollaczek-Khinchine, deterministic service
		got := meanWait(o)
		t.Logf("rho %.1f got %.4f want %.4f", rho, got*1e3, want*1e3)
		if math.Abs(got-want)/want > 0.05 {
			t.Errorf("M/D/1 rho %.1f: mean wait %.3f ms, theory %.3f ms", rho, got*1e3, want*1e3)
		}
		sum := Summarize(o)
		if sum.Saturated || sum.Timeouts > 0 || math.Abs(sum.AchievedRPS-lambda)/lambda > 0.01 {
			t.Errorf("M/D/1 rho %.1f: saturated %v, timeouts %d, achieved %.2f of %.2f", rho, sum.Saturated, sum.Timeouts, sum.AchievedRPS, lambda)
		}
		if sum.Histogram[1] == 0 || len(sum.Histogram) != 1 {
			t.Errorf("max batch 1 must give only batches of 1: %v", sum.Histogram)
		}
	}
}

func TestSimulateMM1(t *testing.T) {
	const s = 10 * time.Millisecond
	mu := 1 / s.Seconds()
	for _, rho := range []float64{0.5, 0.7} {
		lambda := rho * mu
		c := Config{Serving: knobs.Serving{OfferedRPS: lambda, Arrival: Poisson, Instances: 1, MaxBatch: 1},
			Warmup: 100 * time.Second, Duration: 5000 * time.Second, Timeout: time.Hour, Seed: 2}
		o, err := Simulate(c, Exponential(func(int) time.Duration { return s }))
		if err != nil {
			t.Fatal(err)
		}
		want := rho / (mu - lambda)
		if got := meanWait(o); math.Abs(got-want)/want > 0.06 {
			t.Errorf("M/M/1 rho %.1f: mean wait %.3f ms, theory %.3f ms", rho, got*1e3, want*1e3)
		}
	}
}

// Two servers (M/D/2 is not closed-form; M/M/2 is): Erlang C for c = 2.
func TestSimulateMM2(t *testing.T) {
	const s = 10 * time.Millisecond
	mu := 1 / s.Seconds()
	lambda := 1.4 * mu // rho = 0.7 per server
	c := Config{Serving: knobs.Serving{OfferedRPS: lambda, Arrival: Poisson, Instances: 2, MaxBatch: 1},
		Warmup: 100 * time.Second, Duration: 5000 * time.Second, Timeout: time.Hour, Seed: 3}
	o, err := Simulate(c, Exponential(func(int) time.Duration { return s }))
	if err != nil {
		t.Fatal(err)
	}
	a := lambda / mu // offered load in Erlangs
	rho := a / 2
	pw := (a * a / 2 / (1 - rho)) / (1 + a + a*a/2/(1-rho)) // Erlang C
	want := pw / (2*mu - lambda)
	if got := meanWait(o); math.Abs(got-want)/want > 0.06 {
		t.Errorf("M/M/2: mean wait %.3f ms, Erlang C %.3f ms", got*1e3, want*1e3)
	}
}

func TestSimulateBatcherSemantics(t *testing.T) {
	svc := Fixed(func(n int) time.Duration { return time.Millisecond + time.Duration(n)*100*time.Microsecond })

	// Lone requests: each waits exactly max delay, alone in its batch.
	c := Config{Serving: knobs.Serving{OfferedRPS: 10, Arrival: Constant, Instances: 1, MaxBatch: 8, MaxDelayMs: 20},
		Duration: 3 * time.Second, Timeout: time.Second}
	o, _ := Simulate(c, svc)
	for _, r := range o.Requests {
		if r.Status != Completed || r.Batch != 1 || r.Dispatched-r.Scheduled != 20*time.Millisecond {
			t.Fatalf("lone request: %+v; want a batch of 1 after exactly 20 ms", r)
		}
	}

	// Max delay 0 with an idle instance: dispatched at once.
	c.MaxDelayMs = 0
	o, _ = Simulate(c, svc)
	for _, r := range o.Requests {
		if r.Dispatched != r.Scheduled {
			t.Fatalf("max delay 0: waited %s", r.Dispatched-r.Scheduled)
		}
	}

	// A burst faster than the instance: full batches, never more than max batch.
	c = Config{Serving: knobs.Serving{OfferedRPS: 2000, Arrival: Constant, Instances: 1, MaxBatch: 4, MaxDelayMs: 0},
		Duration: time.Second, Timeout: time.Hour}
	o, _ = Simulate(c, Fixed(func(int) time.Duration { return 5 * time.Millisecond }))
	full := 0
	for _, b := range o.Batches {
		if b.Size > 4 {
			t.Fatalf("batch of %d > max batch 4", b.Size)
		}
		if b.Size == 4 {
			full++
		}
	}
	if full < len(o.Batches)-2 {
		t.Errorf("burst: %d of %d batches full", full, len(o.Batches))
	}
	s := Summarize(o)
	if !s.Saturated || s.AchievedRPS > 850 {
		t.Errorf("2000 req/s into 800 req/s of capacity: saturated %v, achieved %.0f", s.Saturated, s.AchievedRPS)
	}

	// Batches fill up to the max delay: 1000 req/s, max delay 3.5 ms -> batches of 4.
	c = Config{Serving: knobs.Serving{OfferedRPS: 1000, Arrival: Constant, Instances: 1, MaxBatch: 8, MaxDelayMs: 3.5},
		Duration: time.Second, Timeout: time.Hour}
	o, _ = Simulate(c, Fixed(func(int) time.Duration { return 500 * time.Microsecond }))
	for _, b := range o.Batches[:len(o.Batches)-1] {
		if b.Size != 4 {
			t.Fatalf("1 ms gaps, 3.5 ms max delay: batch of %d, want 4", b.Size)
		}
	}

	// A bounded queue drops; timeouts are not run and count at >= the timeout.
	c = Config{Serving: knobs.Serving{OfferedRPS: 1000, Arrival: Constant, Instances: 1, MaxBatch: 1},
		Duration: time.Second, Timeout: 50 * time.Millisecond, QueueSize: 10}
	o, _ = Simulate(c, Fixed(func(int) time.Duration { return 2 * time.Millisecond }))
	s = Summarize(o)
	if s.Dropped == 0 || !s.Saturated {
		t.Errorf("queue of 10 at 2x capacity: %d dropped, saturated %v", s.Dropped, s.Saturated)
	}
	c.QueueSize = 0
	o, _ = Simulate(c, Fixed(func(int) time.Duration { return 2 * time.Millisecond }))
	s = Summarize(o)
	if s.Timeouts == 0 || !s.Saturated || s.Latency.P99 < 50 || len(s.LowerBound) == 0 {
		t.Errorf("unbounded queue at 2x capacity, 50 ms timeout: %d timeouts, saturated %v, p99 %.1f ms, lower bounds %v",
			s.Timeouts, s.Saturated, s.Latency.P99, s.LowerBound)
	}
	for _, r := range o.Requests {
		if r.Status == Completed && r.Dispatched-r.Scheduled > 50*time.Millisecond {
			t.Fatalf("a request that waited %s > timeout was run", r.Dispatched-r.Scheduled)
		}
	}
}

func TestSimulateDeterministic(t *testing.T) {
	c := Config{Serving: knobs.Serving{OfferedRPS: 300, Arrival: Poisson, Instances: 2, MaxBatch: 4, MaxDelayMs: 2},
		Duration: 5 * time.Second, Seed: 9}
	svc := Exponential(func(n int) time.Duration { return time.Duration(n) * 2 * time.Millisecond })
	a, _ := Simulate(c, svc)
	b, _ := Simulate(c, svc)
	if !slices.Equal(a.Requests, b.Requests) {
		t.Error("Simulate must be deterministic for a seed")
	}
}

func TestEmpirical(t *testing.T) {
	e, err := NewEmpirical(map[int][]float64{1: {10, 10, 10}, 4: {22, 22}, 8: {30}, 3: {}})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		b    int
		want float64
	}{{1, 10}, {2, 14}, {3, 18}, {4, 22}, {6, 26}, {8, 30}, {10, 34}} {
		if got := float64(e.Mean(tc.b)) / 1e6; math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("mean at batch %d = %g ms, want %g", tc.b, got, tc.want)
		}
		if got := float64(e.Sample(tc.b, r)) / 1e6; math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("sample at batch %d = %g ms, want %g (constant samples)", tc.b, got, tc.want)
		}
	}
	if d := e.Describe(10); d != "measured at batch 1, 4, 8; interpolated at 2, 3, 5, 6, 7; extrapolated at 9, 10" {
		t.Errorf("Describe = %q", d)
	}
	one, _ := NewEmpirical(map[int][]float64{1: {5}})
	if err := one.Covers(4); err == nil {
		t.Error("one measured size cannot cover max batch 4")
	}
	if err := one.Covers(1); err != nil {
		t.Error(err)
	}
	if _, err := NewEmpirical(map[int][]float64{2: {-1, math.NaN()}}); err == nil {
		t.Error("no valid sample must be an error")
	}
}

func TestRound3(t *testing.T) {
	for in, want := range map[float64]float64{93.75: 93.8, 1234.5: 1230, 0.012345: 0.0123, 100: 100} {
		if got := Round3(in); got != want {
			t.Errorf("Round3(%g) = %g, want %g", in, got, want)
		}
	}
}

func TestFindCapacityRule(t *testing.T) {
	ctx := context.Background()
	threshold := 73.3
	var tried []float64
	res, err := FindCapacity(ctx, Search{Start: 200, Tolerance: 0.05}, func(_ context.Context, _ int, r float64) (bool, error) {
		tried = append(tried, r)
		return r <= threshold, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Converged || res.Lo > threshold || res.Hi <= threshold || (res.Hi-res.Lo)/res.Hi > 0.05 || res.Capacity != res.Lo {
		t.Errorf("result %+v (tried %v); want a converged bracket around %g within 5%%", res, tried, threshold)
	}
	if tried[0] != 200 || tried[1] != 100 || tried[2] != 50 {
		t.Errorf("tried %v; want 200, then halving while nothing passes", tried)
	}

	// Everything passes: doubling until MaxSteps.
	res, _ = FindCapacity(ctx, Search{Start: 10, MaxSteps: 4}, func(context.Context, int, float64) (bool, error) { return true, nil })
	if res.Capacity != 80 || res.Converged || !strings.Contains(res.Reason, "at least") {
		t.Errorf("all pass: %+v", res)
	}
	// Nothing passes: give up below MinRate.
	res, _ = FindCapacity(ctx, Search{Start: 10, MinRate: 1}, func(context.Context, int, float64) (bool, error) { return false, nil })
	if res.Capacity != 0 || !strings.Contains(res.Reason, "no rate passes") || res.Steps != 4 {
		t.Errorf("none pass: %+v", res)
	}
}

// The capacity search on the simulated M/D/1 queue finds the rate where p95 crosses the
// budget, which a fine scan of rates locates independently.
func TestFindCapacitySimulatedMD1(t *testing.T) {
	svc := Fixed(func(int) time.Duration { return 10 * time.Millisecond })
	pass := func(rate float64) bool {
		c := Config{Serving: knobs.Serving{OfferedRPS: rate, Arrival: Poisson, Instances: 1, MaxBatch: 1},
			Warmup: 20 * time.Second, Duration: 400 * time.Second, Timeout: 10 * time.Second, Seed: 5}
		o, err := Simulate(c, svc)
		if err != nil {
			t.Fatal(err)
		}
		s := Summarize(o)
		ok, _ := s.Passes("p95", 50)
		return ok
	}
	// Scan: the highest passing rate on a 1 req/s grid.
	scan := 0.0
	for r := 40.0; r <= 100; r++ {
		if pass(r) {
			scan = r
		}
	}
	res, err := FindCapacity(context.Background(), Search{Start: 100, Tolerance: 0.02}, func(_ context.Context, _ int, r float64) (bool, error) { return pass(r), nil })
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Capacity-scan)/scan > 0.03 {
		t.Errorf("capacity %g req/s, scan says %g req/s (%+v)", res.Capacity, scan, res)
	}
	// M/D/1 with S = 10 ms: p95 of the response time reaches 50 ms around rho 0.8.
	if scan < 65 || scan > 90 {
		t.Errorf("scan capacity %g req/s: expected about 75-85 req/s for M/D/1, S = 10 ms, p95 <= 50 ms", scan)
	}
}
