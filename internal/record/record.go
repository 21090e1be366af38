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
	Mode          string `json:"mode,omitempty"` // "bench"
	Status        string `json:"status,omitempty"`
	Error         string `json:"error,omitempty"`
	Timestamp     string `json:"timestamp,omitempty"` // RFC 3339, UTC, when the run started

	// What ran. Model is the built-in name or the file path the user gave.
	Model            string   `json:"model"`
	ModelPath        string   `json:"model_path,omitempty"`
	ModelSHA256      string   `json:"model_sha256,omitempty"`
	Inputs           []string `json:"inputs,omitempty"`
	Device           string   `json:"device,omitempty"`
	BatchSize        int      `json:"batch_size"`
	Compile          bool     `json:"compile"` // whether freeze+optimize_for_inference was applied
	CompileRequested string   `json:"compile_requested,omitempty"`
	Threads          int      `json:"threads"`
	InteropThreads   int      `json:"interop_threads,omitempty"`
	ChannelsLast     bool     `json:"channels_last"`
	Quantize         bool     `json:"quantize"`
	Iters            int      `json:"iters,omitempty"`
	Warmup           int      `json:"warmup,omitempty"`
	Seed             int64    `json:"seed,omitempty"`

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

	Preprocess  *Preprocess  `json:"preprocess,omitempty"`
	Correctness *Correctness `json:"correctness,omitempty"`
	Output      string       `json:"output,omitempty"` // output dtypes and shapes, e.g. "float32[4,1000]"
	Warnings    []string     `json:"warnings,omitempty"`
	Notes       []string     `json:"notes,omitempty"`

	Env *Env `json:"env,omitempty"`
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
type Correctness struct {
	Reference  string  `json:"reference"` // what the output was compared with
	MaxAbsDiff float64 `json:"max_abs_diff"`
	RefMaxAbs  float64 `json:"ref_max_abs"`
	RelDiff    float64 `json:"rel_diff"`  // max_abs_diff / max(ref_max_abs, 1e-6)
	Tolerance  float64 `json:"tolerance"` // on rel_diff
	OK         bool    `json:"ok"`        // rel_diff <= tolerance
}

// Env says where a record was measured. Records with equal fingerprints are comparable.
type Env struct {
	Fingerprint    string  `json:"fingerprint"`    // hash of the fields marked (fp)
	CPUModel       string  `json:"cpu_model"`      // (fp)
	LogicalCPUs    int     `json:"logical_cpus"`   // online CPUs of the machine
	CPUsAvailable  float64 `json:"cpus_available"` // (fp) affinity and cgroup quota applied
	CgroupCPUQuota string  `json:"cgroup_cpu_quota,omitempty"`
	Torch          string  `json:"torch"` // (fp) libtorch version
	BLAS           string  `json:"blas"`  // (fp) the BLAS library actually loaded
	BLASConfig     string  `json:"blas_config,omitempty"`
	Parallel       string  `json:"parallel,omitempty"` // libtorch's parallel backend summary
	OS             string  `json:"os"`
	Kernel         string  `json:"kernel,omitempty"`
	Hostname       string  `json:"hostname,omitempty"`
	Perflab        string  `json:"perflab"`
	Go             string  `json:"go"`
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
// as requested, threads, inter-op threads, channels_last, quantize and device. Sweeps
// resume by it and baselines are keyed by it. Records of the seed tool (no
// compile_requested) use their applied compile.
func (r *Record) Key() string {
	compile := r.CompileRequested
	if compile == "" {
		compile = "off"
		if r.Compile {
			compile = "on"
		}
	}
	device := r.Device
	if device == "" {
		device = "cpu"
	}
	return fmt.Sprintf("%s|b%d|compile=%s|t%d|i%d|cl=%t|q=%t|%s", r.Model, r.BatchSize, compile, r.Threads, r.InteropThreads, r.ChannelsLast, r.Quantize, device)
}
