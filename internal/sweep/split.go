package sweep

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/wire"
)

// Split is where a sweep's wall time went (docs/statistics.md, "Where a sweep's time
// goes"), summed over its worker processes. Every part is measured, none is estimated:
//
//   - Timed: the timed forwards (the wall time of every timed block, as the worker's
//     C++ loop measured it);
//   - Warmup: the warm-up calls;
//   - Prepare: in each worker, from the spec read to the first round (model load, the
//     plain model's reference outputs, compile, channels_last, the correctness guards);
//   - Reference: the reference workload (the machine's speed) each worker runs right
//     before and after its rounds;
//   - Start: each worker process's time outside its own work (exec, Go and libtorch
//     start-up, exit): the parent's clock around the process minus the worker's total;
//   - Other: the rest of the wall time: the workers' bookkeeping (between blocks,
//     summaries, the environment, the preprocessing timing) and the parent's (planning
//     the order, merging runs, writing records), and workers that died before reporting.
//
// The parts add up to Wall by construction of Other; Other is never negative unless the
// bookkeeping is wrong.
type Split struct {
	WallMs    float64 `json:"wall_ms"`
	TimedMs   float64 `json:"timed_ms"`
	WarmupMs  float64 `json:"warmup_ms"`
	PrepareMs float64 `json:"prepare_ms"`
	StartMs   float64 `json:"start_ms"`
	// ReferenceMs is included in none of the others (absent from older splits: then in Other).
	ReferenceMs float64 `json:"reference_ms"`
	OtherMs     float64 `json:"other_ms"`
	// Workers is the worker processes that reported their times; Prepared and Shared count
	// their configurations prepared on their own and those that reused the module of
	// another batch size (wire.Times).
	Workers  int `json:"workers"`
	Prepared int `json:"prepared"`
	Shared   int `json:"shared"`
}

func (s *Split) add(t wire.Times, startMs float64) {
	s.TimedMs += t.TimedMs
	s.WarmupMs += t.WarmupMs
	s.PrepareMs += t.PrepareMs
	s.StartMs += startMs
	s.ReferenceMs += t.ReferenceMs
	s.Workers++
	s.Prepared += t.Prepared
	s.Shared += t.Shared
}

func (s *Split) finish(wall time.Duration) {
	s.WallMs = ms(wall)
	s.OtherMs = s.WallMs - s.TimedMs - s.WarmupMs - s.PrepareMs - s.StartMs - s.ReferenceMs
}

// Parts returns the split's parts in print order with their names.
func (s *Split) Parts() []struct {
	Name string
	Ms   float64
} {
	return []struct {
		Name string
		Ms   float64
	}{{"timed", s.TimedMs}, {"warm-up", s.WarmupMs}, {"prepare", s.PrepareMs}, {"start", s.StartMs}, {"reference", s.ReferenceMs}, {"other", s.OtherMs}}
}

// TimedShare is the share of the wall time spent in timed forwards (0 when no time passed).
func (s *Split) TimedShare() float64 {
	if s.WallMs <= 0 {
		return 0
	}
	return s.TimedMs / s.WallMs
}

// String is the split on one line: "181.2 s: timed 131.0 s (72%), warm-up 26.1 s (14%), ...".
func (s *Split) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%.1f s:", s.WallMs/1e3)
	for i, p := range s.Parts() {
		if i > 0 {
			b.WriteByte(',')
		}
		share := 0.0
		if s.WallMs > 0 {
			share = p.Ms / s.WallMs * 100
		}
		fmt.Fprintf(&b, " %s %.1f s (%.0f%%)", p.Name, p.Ms/1e3, share)
	}
	fmt.Fprintf(&b, "; %d worker processes, %d configurations prepared, %d reused another batch size's module", s.Workers, s.Prepared, s.Shared)
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// SplitFile is the file next to a sweep's records that holds its last run's Split (JSON).
func SplitFile(out string) string { return out + ".split.json" }

// WriteSplit writes s to path as one JSON object (replacing a previous run's).
func WriteSplit(path string, s *Split) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the time split: %v", err)
	}
	return nil
}

// ReadSplit reads a Split written by WriteSplit.
func ReadSplit(path string) (*Split, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Split
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &s, nil
}
