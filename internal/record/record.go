// Package record defines the one JSONL record that perflab's commands write and read, and
// the only code that encodes and decodes it.
//
// A record describes one configuration run: what ran (model, knobs), what it measured
// (latency percentiles with confidence intervals, throughput, raw samples) and where
// (Env, with a fingerprint saying which measurements are comparable). The seed tool's
// fields keep their names; records written by the seed (only those fields) decode too.
package record

import (
	"fmt"
	"math"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/stats"
)

// SchemaVersion is the version written in every record perflab produces.
const SchemaVersion = 1

// Status values.
const (
	StatusOK     = "ok"
	StatusFailed = "failed"
)

// Record is one configuration's result. Latencies are milliseconds.
type Record struct {
	SchemaVersion int    `json:"schema_version,omitempty"`
	Mode          string `json:"mode,omitempty"` // "bench", "load" (perflab load) or "simulate" (its queue simulation)
	Status        string `json:"status,omitempty"`
	Error         string `json:"error,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"` // RFC 3339, UTC, when the run started

	// What ran: the configuration (model, batch size, compile as requested, threads and the
	// other knobs; JSON names model, batch_size, compile_requested, threads, ...), the model
	// file's path and hash, and whether the optimization was applied. On records of perflab
	// load the batch size is the batcher's max batch and threads those of each instance.
	knobs.Knobs
	ModelPath      string `json:"model_path,omitempty"`
	ModelSHA256    string `json:"model_sha256,omitempty"`
	CompileApplied bool   `json:"compile"` // whether freeze+optimize_for_inference was applied
	// compile inductor: the AOTInductor package that ran, and from its spec (<package>.json)
	// the seconds compiling it took and the vector ISA its kernels were compiled for
	// ("scalar": none found, portable C++ kernels).
	InductorPackage string  `json:"inductor_package,omitempty"`
	CompileSeconds  float64 `json:"compile_seconds,omitempty"`
	CompileISA      string  `json:"compile_isa,omitempty"`
	// CompileCache says, when perflab compiled the package from a torch.export program,
	// whether its compile cache had it: "hit" (compile_seconds is the earlier compile's) or
	// "miss" (compiled by this run). Empty for a package given as such.
	CompileCache string `json:"compile_cache,omitempty"`
	Iters        int    `json:"iters,omitempty"`
	Warmup       int    `json:"warmup,omitempty"`
	Seed         int64  `json:"seed,omitempty"`

	// Sweep context, when the record was written by perflab sweep.
	Preset     string `json:"preset,omitempty"`
	Repeat     int    `json:"repeat,omitempty"`      // 1-based repetition of this configuration
	StopReason string `json:"stop_reason,omitempty"` // why timing stopped: "iters", "ci" (target CI reached) or "time"
	OrderSeed  uint64 `json:"order_seed,omitempty"`  // the seed that shuffled the sweep's order

	// What it measured: nearest-rank percentiles of per-iteration forward latency.
	LatencyP50        float64             `json:"latency_p50"`
	LatencyP90        float64             `json:"latency_p90"`
	LatencyP95        float64             `json:"latency_p95"`
	LatencyP99        float64             `json:"latency_p99"`
	LatencyMean       float64             `json:"latency_mean,omitempty"`
	LatencyStd        float64             `json:"latency_std,omitempty"`
	LatencyMin        float64             `json:"latency_min,omitempty"`
	LatencyMax        float64             `json:"latency_max,omitempty"`
	LatencyCI         map[string]stats.CI `json:"latency_ci,omitempty"` // "p50".."p99"; absent when too few samples
	IQROverMedian     float64             `json:"iqr_over_median,omitempty"`
	ThroughputRPS     float64             `json:"throughput_rps"`
	ForwardMsPerBatch float64             `json:"forward_ms_per_batch"`
	WallMs            float64             `json:"wall_ms,omitempty"` // the whole timed loop
	SamplesMs         []float64           `json:"samples_ms,omitempty"`

	// Run-to-run variation, on records of perflab sweep's worker design: the configuration
	// was measured in several worker processes (Runs, one entry each), and latency_ci above
	// is the within-run order-statistic CI of the pooled samples (it assumes i.i.d.
	// samples and ignores process-to-process variation). The intervals below come from
	// the runs' own figures (stats.Runs: a log-t interval over one value per process), so
	// they include between-process variation; keys "p50".."p99" as in latency_ci.
	//   latency_runs_ci: where the typical process's percentile lies (ties, effects, gate).
	//   latency_next_pi: the prediction interval of the figure a repeat of this
	//                    measurement (as many runs) reports: what the next sweep will see.
	Runs             []Run               `json:"runs,omitempty"`
	LatencyRunsCI    map[string]stats.CI `json:"latency_runs_ci,omitempty"`
	LatencyNextPI    map[string]stats.CI `json:"latency_next_pi,omitempty"`
	ThroughputRunsCI *stats.CI           `json:"throughput_runs_ci,omitempty"`

	Preprocess  *Preprocess  `json:"preprocess,omitempty"`
	Correctness *Correctness `json:"correctness,omitempty"`
	Output      string       `json:"output,omitempty"` // output dtypes and shapes, e.g. "float32[4,1000]"
	Warnings    []string     `json:"warnings,omitempty"`
	Notes       []string     `json:"notes,omitempty"`
	// Profile: perflab bench --profile's per-operator table (a separate pass after the
	// timed loop); absent otherwise and in older records.
	Profile *Profile `json:"profile,omitempty"`
	// Reference: perflab's fixed reference workload timed in the same process in short
	// blocks right before and right after the timed loop, with the same thread settings
	// (never inside it): how fast the machine ran libtorch during this run. The gate divides
	// stored-baseline ratios by its ratio (docs/statistics.md). Absent in older records.
	Reference *Reference `json:"reference,omitempty"`

	// Load is set on records of perflab load (mode "load") and of its simulation (mode
	// "simulate"). On those records the seed fields keep their names with a load meaning:
	// batch_size is the batcher's max batch, threads the intra-op threads of each instance,
	// latency_* and samples_ms the request latencies (from the scheduled arrival time to
	// completion), throughput_rps the achieved rate, iters the number of requests measured,
	// warmup the number of warm-up requests and forward_ms_per_batch the mean batch compute.
	Load *LoadInfo `json:"load,omitempty"`

	Env *Env `json:"env,omitempty"`

	// NonFinite names the fields that hold NaN or an infinity, which JSON cannot write:
	// the field is written as 0 and its path here ("correctness.rel_diff": "NaN", "+Inf",
	// "-Inf"); reading the record puts the value back.
	NonFinite map[string]string `json:"non_finite,omitempty"`
}

// Run is one worker process's measurement of a configuration: its percentiles are of
// its own samples only. Worker identifies the process within its sweep: configurations
// with the same worker were measured side by side, in the same rounds of one process,
// which is what paired knob effects compare.
type Run struct {
	Worker        string  `json:"worker"`
	Status        string  `json:"status"` // "ok" or "failed"
	Error         string  `json:"error,omitempty"`
	Iters         int     `json:"iters,omitempty"`
	Rounds        int     `json:"rounds,omitempty"` // rounds this configuration took part in
	P50           float64 `json:"latency_p50,omitempty"`
	P90           float64 `json:"latency_p90,omitempty"`
	P95           float64 `json:"latency_p95,omitempty"`
	P99           float64 `json:"latency_p99,omitempty"`
	ThroughputRPS float64 `json:"throughput_rps,omitempty"`
	PrepareMs     float64 `json:"prepare_ms,omitempty"` // load/compile/guard of this configuration in the worker
	WarmupMs      float64 `json:"warmup_ms,omitempty"`  // its warm-up calls
	// Appended for the sweep's time split (absent in older records):
	WarmupStop   string  `json:"warmup_stop,omitempty"`   // why warm-up stopped: stable, calls or time
	TimedMs      float64 `json:"timed_ms,omitempty"`      // its timed forwards in this worker
	PreparedWith string  `json:"prepared_with,omitempty"` // the configuration whose prepared module it reused (another batch size)
	StartMs      float64 `json:"start_ms,omitempty"`      // the worker process's start and exit (shared by its configurations)
}

// OK reports whether the run measured the configuration.
func (r Run) OK() bool { return r.Status == StatusOK }

// Pct returns the run's percentile p ("p95"); 0 when unknown.
func (r Run) Pct(p string) float64 {
	switch p {
	case "p50":
		return r.P50
	case "p90":
		return r.P90
	case "p95":
		return r.P95
	case "p99":
		return r.P99
	}
	return 0
}

// Preprocess is the separately timed vision preprocessing of one image (decode JPEG,
// resize 256, center-crop 224, normalize), milliseconds per image.
type Preprocess struct {
	Image string  `json:"image"` // the file, or "synthetic WxH JPEG"
	Iters int     `json:"iters"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Correctness compares the configuration's output with the plain model's (no compile,
// contiguous, float) on the same input, before timing.
//
// The rule (bench.CompareOutputs): element by element, |ref-out| <= atol + rtol*|ref|
// on positions finite in both, with atol = atol_scale * rms(ref) per output tensor (the
// absolute tolerance follows the output's own scale); NaN/Inf must sit at the same
// positions; a classifier-shaped output ([B,C], C >= 2) must also keep the reference's
// top-1 class within its top-5 on every row. A reference that is all NaN/Inf or all near
// zero (max |ref| <= 1e-6) cannot be judged: verdict "degenerate", with a note.
type Correctness struct {
	Reference string `json:"reference"`         // what the output was compared with
	Verdict   string `json:"verdict,omitempty"` // "match", "differ" or "degenerate"; "" in old records
	Note      string `json:"note,omitempty"`    // why, for differ and degenerate

	MaxAbsDiff float64 `json:"max_abs_diff"` // over positions finite in both; -1 = not a number
	RefMaxAbs  float64 `json:"ref_max_abs"`
	RefRMS     float64 `json:"ref_rms,omitempty"`
	RelDiff    float64 `json:"rel_diff"`  // max_abs_diff / ref_max_abs (informative); -1 = not a number
	Tolerance  float64 `json:"tolerance"` // rtol
	AtolScale  float64 `json:"atol_scale,omitempty"`
	// Worst is the largest |ref-out| / (atol + rtol*|ref|): <= 1 is within tolerance.
	// MaxFloat64 marks a difference where the reference tensor is exactly zero.
	Worst             float64 `json:"worst_over_tolerance,omitempty"`
	NonFiniteMismatch int64   `json:"nonfinite_mismatch,omitempty"` // positions NaN/Inf on one side only
	Rows              int64   `json:"rows,omitempty"`               // classifier rows compared
	Top1Agree         int64   `json:"top1_agree"`                   // rows with the same arg-max
	Top5Agree         int64   `json:"top5_agree"`                   // rows whose reference arg-max is in the top-5
	OK                bool    `json:"ok"`                           // verdict is not "differ"
}

// Verdicts of the correctness guard.
const (
	VerdictMatch      = "match"
	VerdictDiffer     = "differ"
	VerdictDegenerate = "degenerate"
	// VerdictUnchecked: nothing to compare with (an AOTInductor package without its
	// TorchScript twin); never read as a match.
	VerdictUnchecked = "unchecked"
)

// Summary says in one phrase how the outputs compared, e.g. "match (worst 0.02 of the
// tolerance; top-1 agrees on 4/4 rows)".
func (c *Correctness) Summary() string {
	verdict := c.Verdict
	if verdict == "" {
		verdict = VerdictMatch
		if !c.OK {
			verdict = VerdictDiffer
		}
	}
	return verdict + " (" + c.Detail() + ")"
}

// Detail is Summary without the verdict word.
func (c *Correctness) Detail() string {
	if c.Verdict == "" { // an old record: relative difference only
		op := "<="
		if !c.OK {
			op = ">"
		}
		return fmt.Sprintf("relative difference %.2g %s tolerance %.2g", c.RelDiff, op, c.Tolerance)
	}
	var parts []string
	switch {
	case c.Note != "":
		parts = append(parts, c.Note)
	case c.Worst > 0:
		parts = append(parts, fmt.Sprintf("largest difference %.2g = %.2g of the tolerance", c.MaxAbsDiff, c.Worst))
	default:
		parts = append(parts, "identical")
	}
	if c.Rows > 0 {
		parts = append(parts, fmt.Sprintf("top-1 agrees on %d/%d rows, top-5 on %d/%d", c.Top1Agree, c.Rows, c.Top5Agree, c.Rows))
	}
	return strings.Join(parts, "; ")
}

// Env says where a record was measured. Records with equal fingerprints are comparable.
type Env struct {
	Fingerprint    string  `json:"fingerprint"`    // hash of the fields marked (fp)
	CPUModel       string  `json:"cpu_model"`      // (fp)
	LogicalCPUs    int     `json:"logical_cpus"`   // online CPUs of the machine
	CPUsAvailable  float64 `json:"cpus_available"` // (fp) affinity and cgroup quota applied
	CgroupCPUQuota string  `json:"cgroup_cpu_quota,omitempty"`
	CPUISA         string  `json:"cpu_isa,omitempty"`    // (fp) the CPU's vector ISA flags, e.g. "avx2 avx512f fma"
	OneDNNISA      string  `json:"onednn_isa,omitempty"` // (fp) the ISA oneDNN's kernels used
	// OtherCPUs is the mean number of CPUs other processes (and the hypervisor, as steal)
	// kept busy during the timed loop; absent when it could not be told. Not in the
	// fingerprint: it says how contended the machine was, which the gate takes into account.
	OtherCPUs  *float64 `json:"other_cpus,omitempty"`
	Torch      string   `json:"torch"` // (fp) libtorch version
	BLAS       string   `json:"blas"`  // (fp) the BLAS library actually loaded
	BLASConfig string   `json:"blas_config,omitempty"`
	Parallel   string   `json:"parallel,omitempty"` // libtorch's parallel backend summary
	OS         string   `json:"os"`
	Kernel     string   `json:"kernel,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	Perflab    string   `json:"perflab"`
	Go         string   `json:"go"`
	// The process's CPU serving settings as it actually ran (the knobs asked for are the
	// record's allocator, omp_wait and pin, part of the key).
	Allocator   string `json:"allocator,omitempty"`    // the allocator mapped in the process: glibc, jemalloc, tcmalloc
	OMP         string `json:"omp,omitempty"`          // OpenMP variables in effect, e.g. "OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0"
	ProcessCPUs string `json:"process_cpus,omitempty"` // the CPUs the process ran on (its affinity), e.g. "0-1"
	// (fp) settings in effect that the knobs did not ask for (inherited LD_PRELOAD or OMP_* variables)
	InheritedKnobs string `json:"inherited_knobs,omitempty"`
	// The libtorch build's facts that change speed, next to Torch (absent in records before
	// perflab knew them; not in the fingerprint, so that older baselines stay comparable:
	// the gate compares them itself, env.RuntimeChange).
	OneDNN   string `json:"onednn,omitempty"`    // the oneDNN version loaded, e.g. "3.7.2"
	TEFuser  string `json:"te_fuser,omitempty"`  // TorchScript's TensorExpr fuser: "on" or "off"
	CXX11ABI string `json:"cxx11_abi,omitempty"` // _GLIBCXX_USE_CXX11_ABI of the build: "0" or "1"
}

// LoadInfo is what one open-loop load run (or its simulation) offered and measured. Rates
// are requests per second, times milliseconds; "requests" count the measured window only
// (warm-up requests are not counted anywhere).
type LoadInfo struct {
	knobs.Serving         // instances, max_batch, max_delay_ms, arrival, offered_rps
	IssuedRPS     float64 `json:"issued_rps"`           // requests scheduled in the window / its duration
	DurationS     float64 `json:"duration_s"`           // the measured window
	WarmupS       float64 `json:"warmup_s"`             // load before the window, not counted
	TimeoutMs     float64 `json:"timeout_ms"`           // a request still queued this long after its scheduled time is not run
	QueueSize     int     `json:"queue_size,omitempty"` // requests arriving at a full queue are dropped; 0 = unbounded

	Requests    int     `json:"requests"`     // scheduled in the measured window
	Completed   int     `json:"completed"`    // run to completion
	Timeouts    int     `json:"timeouts"`     // not run within timeout_ms, or unfinished at the end
	Dropped     int     `json:"dropped"`      // refused by a full queue
	AchievedRPS float64 `json:"achieved_rps"` // completed / (window start to last completion, at least the window)
	Saturated   bool    `json:"saturated"`    // it could not keep up: achieved < 95% of issued, or requests failed

	QueueWaitMs    *Dist                `json:"queue_wait_ms,omitempty"` // scheduled arrival to batch start, completed requests
	ComputeMs      *Dist                `json:"compute_ms,omitempty"`    // wall time of each batch's forward
	MeanBatch      float64              `json:"mean_batch"`
	BatchHistogram map[string]int       `json:"batch_histogram,omitempty"`  // batch size -> batches run in the window
	ServiceMs      map[string][]float64 `json:"service_ms,omitempty"`       // batch size -> each batch's compute (simulation input)
	IssueLagP50Ms  float64              `json:"issue_lag_p50_ms,omitempty"` // p50 of how late the generator released requests (0 when simulated)
	IssueLagP99Ms  float64              `json:"issue_lag_p99_ms"`           // p99 of how late the generator released requests (0 when simulated)

	LatencyPct      string    `json:"latency_pct,omitempty"`       // the percentile the budget and the sample-size check use
	LatencyBudgetMs float64   `json:"latency_budget_ms,omitempty"` // 0 = none
	WithinBudget    bool      `json:"within_budget,omitempty"`     // latency_pct <= budget and not saturated
	Step            int       `json:"step,omitempty"`              // capacity search: 1-based step of this run
	Capacity        *Capacity `json:"capacity,omitempty"`          // capacity search summary record
	Source          string    `json:"source,omitempty"`            // simulate: where the service times came from
}

// Dist summarises a time distribution, milliseconds (nearest-rank percentiles).
type Dist struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

// Capacity is the result of perflab load --find-capacity: the highest offered rate whose
// latency percentile stayed within the budget while the configuration kept up.
type Capacity struct {
	CapacityRPS  float64        `json:"capacity_rps"` // 0 when no rate tried passed
	LatencyPct   string         `json:"latency_pct"`
	BudgetMs     float64        `json:"latency_budget_ms"`
	BracketLoRPS float64        `json:"bracket_lo_rps"` // highest passing rate tried (= capacity_rps)
	BracketHiRPS float64        `json:"bracket_hi_rps"` // lowest failing rate tried (0: none failed)
	Tolerance    float64        `json:"tolerance"`      // the search stops when (hi-lo)/hi <= tolerance
	Converged    bool           `json:"converged"`
	Reason       string         `json:"reason"`
	Steps        []CapacityStep `json:"steps"`
}

// CapacityStep is one run of a capacity search.
type CapacityStep struct {
	OfferedRPS  float64 `json:"offered_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	Requests    int     `json:"requests"`
	Timeouts    int     `json:"timeouts"`
	Dropped     int     `json:"dropped"`
	P50         float64 `json:"p50"`
	P90         float64 `json:"p90"`
	P95         float64 `json:"p95"`
	P99         float64 `json:"p99"`
	Saturated   bool    `json:"saturated"`
	Pass        bool    `json:"pass"`
}

// OK reports whether the record is a successful measurement. Seed records, which have no
// status, count as successful.
func (r *Record) OK() bool { return r.Status == "" || r.Status == StatusOK }

// Usable reports whether the record may be recommended or compared: it succeeded and its
// outputs matched the plain model within tolerance (or were not checked).
func (r *Record) Usable() bool {
	return r.OK() && (r.Correctness == nil || r.Correctness.OK)
}

// Key identifies a configuration independently of its results: model, batch size, compile
// as requested, threads, inter-op threads, channels_last, quantize, device and, when one
// was asked for, the oneDNN ISA ("...|cpu|isa=avx2"), then the CPU serving knobs the
// process ran with, when set ("|alloc=jemalloc|wait=passive|pin=cores"). Sweeps
// resume by it and baselines are keyed by it. Records of the seed tool (no
// compile_requested) use their applied compile.
//
// Load and simulate records (Load set) add the mode, instances, max delay and arrival
// process, then the offered rate ("<bench key>|load|inst=2|delay=5ms|poisson|rate=40"),
// or for a capacity-search summary its percentile and budget ("...|capacity=p95,50ms").
// Bench keys are unchanged. Control characters in the model name are escaped (Printable).
func (r *Record) Key() string {
	if r.Load == nil {
		return r.benchKey()
	}
	l := r.Load
	if l.Capacity != nil {
		return fmt.Sprintf("%s|capacity=%s,%gms", r.LoadConfigKey(), l.Capacity.LatencyPct, l.Capacity.BudgetMs)
	}
	return fmt.Sprintf("%s|rate=%g", r.LoadConfigKey(), l.OfferedRPS)
}

// LoadConfigKey is the key of a load record's serving configuration, without the offered
// rate: the records of one latency-vs-load curve share it. It is Key for other records.
func (r *Record) LoadConfigKey() string {
	if r.Load == nil {
		return r.benchKey()
	}
	mode := r.Mode
	if mode == "" {
		mode = "load"
	}
	return r.benchKey() + "|" + mode + "|" + r.Load.KeySuffix()
}

func (r *Record) benchKey() string { return r.Configuration().Key() }

// Configuration returns the record's knobs as its key uses them: on a seed record, which
// has no requested compile mode, the one applied ("on" or "off").
func (r *Record) Configuration() knobs.Knobs {
	k := r.Knobs
	if k.Compile == "" {
		k.Compile = knobs.CompileOff
		if r.CompileApplied {
			k.Compile = knobs.CompileOn
		}
	}
	return k
}

// CompileRan says which compile mode ran: "inductor" (an AOTInductor package), "on"
// (freeze + optimize_for_inference applied) or "off".
func (r *Record) CompileRan() string {
	switch {
	case r.InductorPackage != "":
		return knobs.CompileInductor
	case r.CompileApplied:
		return knobs.CompileOn
	}
	return knobs.CompileOff
}

// Printable returns s with its control characters written as Go escapes (knobs.Printable).
func Printable(s string) string { return knobs.Printable(s) }

// Reference is the timing of perflab's fixed reference workload (torch.ReferenceWorkload)
// next to a run's timed loop.
type Reference struct {
	Workload string `json:"workload"` // which workload: timings compare only between equal names
	// Ms is the per-call time of the workload: the geometric mean of the blocks' mean per-call times.
	Ms float64 `json:"ms"`
	// LogSE is the standard error of log(Ms) as the machine's speed during the timed loop:
	// the larger of the blocks' spread / sqrt(blocks) and half the log difference between
	// the blocks before and after the loop (the loop ran somewhere in between).
	LogSE    float64   `json:"log_se"`
	BlocksMs []float64 `json:"blocks_ms"` // each block's mean per-call time, in order
	Before   int       `json:"before"`    // how many of the blocks ran before the timed loop
	Calls    int       `json:"calls"`     // timed calls per block
}

// MergeReferences combines the references of one configuration's runs in several
// processes (a sweep's workers): the geometric mean of their times, the standard error
// of that mean from their own errors. nil when any run lacks one or the workloads differ.
func MergeReferences(refs []*Reference) *Reference {
	if len(refs) == 0 || refs[0] == nil {
		return nil
	}
	out := &Reference{Workload: refs[0].Workload}
	var sumLog, sumVar float64
	for _, r := range refs {
		if r == nil || r.Workload != out.Workload || !(r.Ms > 0) {
			return nil
		}
		sumLog += math.Log(r.Ms)
		sumVar += r.LogSE * r.LogSE
		out.BlocksMs = append(out.BlocksMs, r.BlocksMs...)
		out.Calls = r.Calls
	}
	// Before: 0 for blocks of several processes (each process's before and after alternate).
	n := float64(len(refs))
	out.Ms = math.Exp(sumLog / n)
	out.LogSE = math.Sqrt(sumVar) / n
	if len(refs) == 1 {
		out.Before = refs[0].Before
	}
	return out
}
