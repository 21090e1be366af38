// Package wire is the protocol between perflab sweep and its worker processes
// (`perflab sweep-worker`): the parent writes one Spec as JSON on the worker's stdin; the
// worker writes Messages, one JSON line each, on a dedicated result file descriptor
// (child.ResultFD, passed with ExtraFiles), so that whatever a model or libtorch prints
// on stdout or stderr cannot corrupt the results. It sits below both ends (bench, which
// runs the worker's rounds, and sweep, which starts the workers).
package wire

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

// MaxLine bounds one message line (a record with its samples).
const MaxLine = 16 << 20

// Spec is what one worker measures: configurations sharing one process-wide setting
// (threads, inter-op threads, oneDNN ISA, and any other knob that applies to a whole
// process), of every model that runs with that setting, in rounds.
type Spec struct {
	Worker string `json:"worker"` // the run's identity in records (record.Run.Worker)

	// Process is the process-wide setting (knobs.Knobs.PerProcess without the model,
	// see Setting): thread pools, oneDNN ISA and CPU knobs; the worker process is started
	// with its CPU knobs applied. Every configuration's knobs have these; each names its
	// own model (a worker loads each of its models once).
	Process knobs.Knobs `json:"process"`

	Configs []Config `json:"configs"`

	// Stopping, per configuration within this worker: at least MinIters samples (the
	// worker's share of what the pooled p95 CI needs), then stop at Iters samples, at
	// MaxSeconds of its timed forwards, or once its TargetPercentile CI half-width is
	// within TargetCI (0 = off) of the value.
	MinIters         int     `json:"min_iters"`
	Iters            int     `json:"iters"`
	MaxSeconds       float64 `json:"max_seconds"`
	TargetPercentile string  `json:"target_percentile"`
	TargetCI         float64 `json:"target_ci"`

	// Warm-up, per configuration: until two windows of calls agree (bench.WarmupRule),
	// after the 2 calls of the module that are never judged (the guard's forward in
	// preparation is the first), at most Warmup calls and WarmupSeconds of calls.
	Warmup        int     `json:"warmup"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	// BlockMs is the length of one configuration's block in a round (at least 1 call).
	BlockMs float64 `json:"block_ms"`
	// Seed shuffles the order of every round.
	Seed uint64 `json:"seed"`
	// PreprocessIters > 0 asks this worker to time the vision preprocessing once for each
	// of PreprocessModels (the configurations' model names or paths) that is a vision model.
	PreprocessIters  int      `json:"preprocess_iters,omitempty"`
	PreprocessModels []string `json:"preprocess_models,omitempty"`
}

// Setting is the key of a worker's process-wide setting: k's process-wide knobs
// (knobs.Knobs.PerProcess) without the model and its inputs. Configurations with the same
// Setting can share a worker process, whatever their model.
func Setting(k knobs.Knobs) string {
	p := k.PerProcess()
	p.Model, p.Inputs = "", nil
	return p.Key()
}

// Config is one configuration inside a worker: its planned record key and its knobs
// (the spec's Process knobs plus those a process holds side by side: batch size, compile,
// channels_last, quantize).
type Config struct {
	Key         string `json:"key"`
	knobs.Knobs `json:"knobs"`
}

// Message is one line on the result descriptor: exactly one field is set.
type Message struct {
	// Prepare says the worker starts preparing (load, compile, guard) the configuration
	// with this key: a crash before the next message is that configuration's.
	Prepare string `json:"prepare,omitempty"`
	// Measuring says every configuration is prepared and the rounds start.
	Measuring bool `json:"measuring,omitempty"`
	// Record is one configuration's result in this worker (status failed when it could
	// not be prepared; the others go on), with Key its planned key.
	Record *record.Record `json:"record,omitempty"`
	Key    string         `json:"key,omitempty"`
	// Preprocess is the preprocessing timing of Model (a name or path of Spec.PreprocessModels).
	Preprocess *record.Preprocess `json:"preprocess,omitempty"`
	Model      string             `json:"model,omitempty"`
	// Times is where the worker's time went, sent last (absent from older workers and
	// from a worker that died).
	Times *Times `json:"times,omitempty"`
}

// Times is how a worker spent its time, from the start of its work (the spec read) to
// its last message; what the process took beyond that (exec, Go and libtorch start-up,
// exit) is measured by the parent. Prepare runs from the start to the rounds (model
// load, references, every configuration's preparation and correctness guard), Warmup
// is the warm-up calls, Timed the timed forwards (the wall time of the timed blocks);
// the rest of Total is the worker's bookkeeping (between blocks, summaries, the
// environment, the preprocessing timing).
type Times struct {
	TotalMs   float64 `json:"total_ms"`
	PrepareMs float64 `json:"prepare_ms"`
	WarmupMs  float64 `json:"warmup_ms"`
	TimedMs   float64 `json:"timed_ms"`
	// ReferenceMs is the reference workload's (the machine's speed) before and after the rounds.
	ReferenceMs float64 `json:"reference_ms,omitempty"`
	// Prepared configurations were loaded and prepared on their own; Shared ones reused
	// the module another configuration of the same model, compile, channels_last and
	// quantize (another batch size) had prepared.
	Prepared int `json:"prepared"`
	Shared   int `json:"shared"`
}

// Writer writes messages, one line each.
type Writer struct{ w io.Writer }

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w} }

// Send writes m as one line in one write call.
func (w *Writer) Send(m Message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = w.w.Write(append(b, '\n'))
	return err
}

// Read reads messages until EOF, calling f for each; a malformed or oversized line is an
// error (the worker's output cannot be trusted past it).
func Read(r io.Reader, f func(Message)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for n := 1; sc.Scan(); n++ {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("worker result line %d: %v", n, err)
		}
		f(m)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("worker results: %v", err)
	}
	return nil
}
