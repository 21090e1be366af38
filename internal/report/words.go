package report

// Words: the labels of a configuration and the sentences of a recommendation or an
// effect, shared by every renderer (terminal, markdown, JSON).

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
)

// CompileLabel is "on", "off" or "inductor", with the requested mode when it differs or
// was auto: "on (auto)".
func (e *Entry) CompileLabel() string {
	if e.Inductor {
		if e.Compile != "" && e.Compile != knobs.CompileInductor {
			return knobs.CompileInductor + " (" + e.Compile + ")"
		}
		return knobs.CompileInductor
	}
	return e.Knobs.CompileLabel(e.CompileApplied)
}

// CompileCost is what compiling the configuration's package cost, next to the latency it
// buys: "compiled in 33.6 s, scalar kernels" ("" for compile off/on, whose freeze +
// optimize_for_inference is part of loading).
func (e *Entry) CompileCost() string {
	if !e.Inductor || e.CompileSeconds <= 0 {
		return ""
	}
	s := fmt.Sprintf("compiled in %s s", strconv.FormatFloat(e.CompileSeconds, 'f', 1, 64))
	if e.CompileISA != "" {
		s += ", " + e.CompileISA + " kernels"
	}
	return s
}

// compileWord names a compile value of knobValue: "0" off, "1" on, "inductor".
func compileWord(v string) string {
	switch v {
	case "1":
		return knobs.CompileOn
	case "0":
		return knobs.CompileOff
	}
	return v
}

// ThreadsLabel is "2" or "2/1" (intra-op/inter-op) when inter-op threads are known.
func (e *Entry) ThreadsLabel() string {
	if e.InteropThreads > 0 {
		return fmt.Sprintf("%d/%d", e.Threads, e.InteropThreads)
	}
	return strconv.Itoa(e.Threads)
}

// ShortLabel is a compact label for plots: "compile 2t +cl", "eager 1t +int8".
func (e *Entry) ShortLabel() string {
	s := "eager"
	if e.CompileApplied {
		s = "compile"
	}
	s += fmt.Sprintf(" %dt", e.Threads)
	if e.ChannelsLast {
		s += " +cl"
	}
	if e.Quantize {
		s += " +int8"
	}
	return s + e.ProcessLabel(" +", " +", " +wait=", " +pin=")
}

// ProcessLabel renders the per-process knobs that are set, each after its prefix
// (oneDNN ISA, allocator, OpenMP wait policy, pinning).
func (e *Entry) ProcessLabel(isa, alloc, wait, pin string) string {
	var s string
	for _, kv := range [][2]string{{isa, e.OneDNNISA}, {alloc, e.Allocator}, {wait, e.OMPWait}, {pin, e.Pin}} {
		if kv[1] != "" {
			s += kv[0] + kv[1]
		}
	}
	return s
}

// Label describes the configuration's knobs in words, e.g.
// "batch 4, compile on, 2 threads (1 inter-op), channels_last".
func (e *Entry) Label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch %d, compile %s, %d %s", e.BatchSize, e.CompileLabel(), e.Threads, textfmt.Plural(e.Threads, "thread", "threads"))
	if e.InteropThreads > 0 {
		fmt.Fprintf(&b, " (%d inter-op)", e.InteropThreads)
	}
	if e.ChannelsLast {
		b.WriteString(", channels_last")
	}
	if e.Quantize {
		b.WriteString(", int8")
	}
	b.WriteString(e.ProcessLabel(", oneDNN ", ", ", ", OpenMP wait ", ", pinned "))
	if e.Device != "" && e.Device != "cpu" {
		b.WriteString(", " + e.Device)
	}
	return b.String()
}

// cheaperWhy says why a is cheaper than b.
func cheaperWhy(a, b *Entry) string {
	switch {
	case a.Threads != b.Threads:
		return fmt.Sprintf("fewer threads (%d vs %d)", a.Threads, b.Threads)
	case a.InteropThreads != b.InteropThreads:
		return fmt.Sprintf("fewer inter-op threads (%d vs %d)", a.InteropThreads, b.InteropThreads)
	case a.BatchSize != b.BatchSize:
		return fmt.Sprintf("smaller batch (%d vs %d)", a.BatchSize, b.BatchSize)
	}
	return "equally cheap"
}

// compareText says how e compares with ref: throughput and latency at p.
func compareText(e, ref *Entry, p string) string {
	dt := (e.ThroughputRPS/ref.ThroughputRPS - 1) * 100
	dl := (e.Lat(p)/ref.Lat(p) - 1) * 100
	ci := ""
	if !hasInterval(e, p) || !hasInterval(ref, p) {
		ci = ", no CI"
	} else if Indistinguishable(e, ref, p) {
		ci = ", statistically indistinguishable"
	}
	return fmt.Sprintf("%s req/s (%s), %s %s ms (%s)%s", numfmt.RPS(e.ThroughputRPS), signedPct(dt), p, numfmt.Ms(e.Lat(p)), signedPct(dl), ci)
}

func signedPct(v float64) string {
	if math.Abs(v) < 0.05 {
		return "same"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// Summary says what the knob did in one line, e.g.
// "compile on: 5.5x faster p95 on mobilenet_v3_small (median over 4 pairs, speedup 3.1x to 6.0x)" or,
// for the batch size, "batch 4 vs 1: 2.3x throughput, p95 3.4x higher on resnet18 (...)".
//
// A paired effect reads "compile on: 1.3x faster p95 on resnet18 (paired in 12 worker
// processes over 4 pairs, 95% CI 1.2x to 1.4x; pairs 1.1x to 1.5x)".
func (f Effect) Summary() string {
	pairs := fmt.Sprintf("median over %d %s", f.Pairs, textfmt.Plural(f.Pairs, "pair", "pairs"))
	if f.Pairs > 1 && f.Knob != "batch_size" {
		pairs += fmt.Sprintf(", speedup %sx to %sx", fmtX(f.SpeedupMin), fmtX(f.SpeedupMax))
	}
	if f.Paired > 0 && f.Knob != "batch_size" {
		pairs = fmt.Sprintf("paired in %d worker %s over %d %s, 95%% CI %sx to %sx", f.Paired, textfmt.Plural(f.Paired, "process", "processes"),
			f.Pairs, textfmt.Plural(f.Pairs, "pair", "pairs"), fmtX(f.PairedCI.Lo), fmtX(f.PairedCI.Hi))
		if f.Pairs > 1 {
			pairs += fmt.Sprintf("; pairs %sx to %sx", fmtX(f.SpeedupMin), fmtX(f.SpeedupMax))
		}
		f.Speedup = f.PairedSpeedup
	}
	switch f.Knob {
	case "batch_size":
		return fmt.Sprintf("batch %s vs %s: %sx throughput, %s %s on %s (%s)",
			f.To, f.From, fmtX(f.ThroughputRatio), f.Percentile, latChange(f.Speedup), untrusted.Text(f.Model), pairs)
	case "threads", "interop_threads":
		name := "threads"
		if f.Knob == "interop_threads" {
			name = "inter-op threads"
		}
		return fmt.Sprintf("%s %s vs %s: %s on %s (%s)", name, f.To, f.From, speedText(f.Speedup, f.Percentile), untrusted.Text(f.Model), pairs)
	case "onednn_isa", "allocator", "omp_wait", "pin":
		name := map[string]string{"onednn_isa": "oneDNN ISA", "allocator": "allocator", "omp_wait": "OpenMP wait", "pin": "pinning"}[f.Knob]
		return fmt.Sprintf("%s %s vs %s: %s on %s (%s)", name, f.To, f.From, speedText(f.Speedup, f.Percentile), untrusted.Text(f.Model), pairs)
	}
	name := f.Knob
	if f.Knob == "quantize" {
		name = "quantize (int8)"
	}
	return fmt.Sprintf("%s %s: %s on %s (%s)", name, f.To, speedText(f.Speedup, f.Percentile), untrusted.Text(f.Model), pairs)
}

// speedText renders a speedup (latency before / after) as "5.5x faster p95" or
// "1.3x slower p95".
func speedText(s float64, p string) string {
	switch {
	case s >= 0.95 && s < 1.05:
		return fmt.Sprintf("no clear change in %s (%.2fx)", p, s)
	case s >= 1:
		return fmt.Sprintf("%sx faster %s", fmtX(s), p)
	}
	return fmt.Sprintf("%sx slower %s", fmtX(1/s), p)
}

// latChange renders a speedup as a latency change: "3.4x higher", "1.2x lower".
func latChange(s float64) string {
	switch {
	case s >= 0.95 && s < 1.05:
		return fmt.Sprintf("about unchanged (%.2fx)", 1/s)
	case s < 1:
		return fmtX(1/s) + "x higher"
	}
	return fmtX(s) + "x lower"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func fmtRatio(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtX(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtNum formats a user-given number as short as it goes: 50, 12.5.
func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
