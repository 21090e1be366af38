package sweep

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/perflab/perflab/internal/child"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

// Runner runs a plan's configurations, each in a child process.
type Runner struct {
	Preset    *Preset
	Exe       string   // the perflab binary to run as `Exe bench ... --json`
	ExtraArgs []string // appended to every child's arguments (e.g. --preprocess-iters 0)
	Out       string   // JSONL file; one record is appended per finished configuration
	OrderSeed uint64
	Timeout   time.Duration // per configuration; 0 = the preset's timeout_seconds
	// Progress is called after each configuration with its index (0-based), the plan size,
	// the record written and how long the child ran.
	Progress func(i, n int, c Config, r *record.Record, took time.Duration)

	// Workers > 0 measures a bench preset in worker processes (docs/statistics.md, "How a
	// sweep measures"): Workers processes per process-wide setting, each holding all of that
	// setting's configurations and measuring them side by side in rounds. 0 runs each
	// configuration alone in its own `perflab bench` process (load presets always do).
	Workers         int
	BlockMs         float64 // one block of a round; 0 = DefaultBlockMs
	WarmupSeconds   float64 // warm-up cap per configuration; 0 = DefaultWarmupSeconds
	PreprocessIters int     // vision preprocessing timing, once per model; 0 = none
	// WorkerProgress is called after each worker process.
	WorkerProgress func(WorkerEvent)
	// Stale is called when the sidecar (PartFile) holds another run's results (another
	// plan, or a model file replaced since): they are discarded, not reused.
	Stale func(part string)

	identity string // Identity of the running plan
}

// Result counts what a Run did.
type Result struct {
	Done, Failed, Resumed int
	Interrupted           bool
	// Split is where the time went; nil when the sweep ran no worker processes (a load
	// preset, or Workers 0).
	Split *Split
}

// Done returns how many records of each configuration key (successful ones only) an
// existing sweep file holds, for --resume. A missing file holds none.
func Done(path string, onBad func(*record.LineError)) (map[string]int, error) {
	return DoneFor(path, nil, onBad)
}

// DoneFor is Done counting only the records measured on the model files as they are now:
// a record whose model_sha256 differs from shas[its model] (ModelSHAs) was measured on
// another file and is measured again.
func DoneFor(path string, shas map[string]string, onBad func(*record.LineError)) (map[string]int, error) {
	recs, err := record.ReadFile(path, onBad)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]int{}, nil
	}
	if err != nil {
		return nil, err
	}
	done := map[string]int{}
	for _, r := range recs {
		if sha, file := shas[r.Model]; file && r.ModelSHA256 != sha {
			continue
		}
		if r.OK() {
			done[r.Key()]++
		}
	}
	return done, nil
}

// Run runs the plan. Configurations whose repetition is already in done are skipped.
// When ctx is cancelled (Ctrl-C) the running child is stopped, its configuration is not
// recorded, and Run returns with Interrupted set; every finished record is already on disk.
func (rn *Runner) Run(ctx context.Context, plan *Plan, done map[string]int) (Result, error) {
	var res Result
	timeout := rn.Timeout
	if timeout == 0 {
		timeout = time.Duration(rn.Preset.TimeoutSeconds * float64(time.Second))
	}
	var todo []Config
	for _, c := range plan.Configs {
		if done[c.Key] >= c.Repeat {
			res.Resumed++
			continue
		}
		todo = append(todo, c)
	}
	if rn.Workers > 0 && rn.Preset.Mode != ModeLoad {
		rn.identity = rn.Identity(plan, ModelSHAs(plan))
		err := rn.runWorkers(ctx, todo, &res)
		return res, err
	}
	for i, c := range todo {
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, nil
		}
		start := time.Now()
		rec := rn.runOne(ctx, c, timeout)
		if ctx.Err() != nil {
			res.Interrupted = true
			return res, nil
		}
		rec.Preset = rn.Preset.Name
		rec.Repeat = c.Repeat
		rec.OrderSeed = rn.OrderSeed
		if err := record.AppendFile(rn.Out, rec); err != nil {
			return res, err
		}
		if rec.OK() {
			res.Done++
		} else {
			res.Failed++
		}
		if rn.Progress != nil {
			rn.Progress(i, len(todo), c, rec, time.Since(start))
		}
	}
	return res, nil
}

// Args returns the `perflab bench` (or, for a load preset, `perflab load`) arguments of
// one configuration.
func (rn *Runner) Args(c Config) []string {
	p := rn.Preset
	if c.Mode == ModeLoad {
		return rn.loadArgs(c)
	}
	args := append([]string{"bench"}, c.Knobs.Args()...)
	args = append(args,
		"--iters", strconv.Itoa(p.Iters),
		"--warmup", strconv.Itoa(p.Warmup),
		"--target-percentile", p.TargetPercentile,
		"--target-ci", strconv.FormatFloat(p.TargetCI, 'g', -1, 64),
		"--max-seconds", strconv.FormatFloat(p.MaxSeconds, 'g', -1, 64),
		"--json",
	)
	return append(args, rn.ExtraArgs...)
}

func (rn *Runner) loadArgs(c Config) []string {
	l := rn.Preset.Load
	secs := func(s float64) string { return time.Duration(s * float64(time.Second)).String() }
	args := append([]string{"load"}, c.Knobs.Args(knobs.Omit(knobs.FlagBatchSize, knobs.FlagDevice))...)
	srv := *c.Serving
	srv.MaxBatch = c.BatchSize
	if c.FindCapacity {
		srv.OfferedRPS = 0
	}
	args = append(append(args, srv.Args()...),
		"--duration", secs(l.DurationS),
		"--warmup", secs(l.WarmupS),
		"--latency-pct", c.LatencyPct,
	)
	if c.BudgetMs > 0 {
		args = append(args, "--latency-budget-ms", strconv.FormatFloat(c.BudgetMs, 'g', -1, 64))
	}
	if c.FindCapacity {
		args = append(args, "--find-capacity")
	}
	args = append(args, "--json")
	return append(args, rn.ExtraArgs...)
}

// runOne runs one child and returns its record, or a failed record saying why.
func (rn *Runner) runOne(ctx context.Context, c Config, timeout time.Duration) *record.Record {
	ch := RunChild(ctx, rn.Exe, rn.Args(c), timeout)
	fail := func(why string) *record.Record {
		r := c.record()
		r.Status, r.Error, r.Timestamp = record.StatusFailed, why, time.Now().UTC().Format(time.RFC3339)
		return r
	}
	switch err := ch.Err; {
	case ch.TimedOut:
		return fail(fmt.Sprintf("timed out after %s (timeout_seconds); killed", timeout))
	case err != nil:
		if why, ok := ch.Failure(); ok {
			return fail(why)
		}
		return fail("could not run perflab " + rn.Args(c)[0] + ": " + err.Error())
	}
	rec, perr := record.Parse(bytes.TrimSpace(ch.Result))
	if perr != nil {
		return fail("child wrote no valid record: " + perr.Error())
	}
	if rec.Key() != c.Key {
		rec.Notes = append(rec.Notes, "applied configuration differs from the planned one: "+c.Key)
	}
	if out := bytes.TrimSpace(ch.Stdout); len(out) > 0 {
		rec.Notes = append(rec.Notes, "the model printed on stdout (kept apart from the result): "+child.FirstLine(out))
	}
	return rec
}
