// Package knobs is perflab's one description of a configuration: which model runs with
// which settings (Knobs) and, for perflab load, how it is served (Serving). A
// configuration is validated, keyed, given its command-line flags and written back as a
// child process's arguments here and nowhere else; records (record.Record embeds Knobs),
// sweep plans, baselines, reports and the gate all carry this type.
package knobs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/untrusted"
)

// Compile modes (--compile): whether torch::jit::freeze + optimize_for_inference is applied,
// or (inductor) the model's AOTInductor package (.pt2) runs instead of its TorchScript file.
const (
	// auto: optimize unless it fails or changes the outputs; a .pt2 given as the model (a
	// package or a torch.export program) runs as inductor. It picks only what it can vouch
	// for without measuring, says why it did not pick inductor, and leaves comparing the
	// package with on to --compile inductor or a sweep.
	CompileAuto     = "auto"
	CompileOn       = "on" // optimize; failure is an error
	CompileOff      = "off"
	CompileInductor = "inductor" // run the AOTInductor package (compiled from a torch.export program if need be): libtorch 2.6 or later
)

// CompileModes are the values of --compile.
var CompileModes = []string{CompileAuto, CompileOn, CompileOff, CompileInductor}

// CPU is the only device this libtorch has.
const CPU = "cpu"

// Limits checked before anything runs.
const MaxBatch = 65_536

// Knobs are the settings of one configuration of one model. JSON names are the record's
// (the seed tool's where it had them); the zero value of each optional knob leaves it to
// the library or the environment.
type Knobs struct {
	Model          string   `json:"model"`                       // built-in name or TorchScript path
	Inputs         []string `json:"inputs,omitempty"`            // model.InputSpec texts, for TorchScript files
	Device         string   `json:"device,omitempty"`            // only "cpu"; "" = cpu
	BatchSize      int      `json:"batch_size"`                  // perflab load: the batcher's max batch
	Compile        string   `json:"compile_requested,omitempty"` // CompileModes, as asked; "" on seed records
	Threads        int      `json:"threads"`                     // intra-op (per instance in load); 0 = CPUs available
	InteropThreads int      `json:"interop_threads,omitempty"`   // 0 = libtorch's default
	ChannelsLast   bool     `json:"channels_last"`
	Quantize       bool     `json:"quantize"`             // the model's dynamic-int8 variant
	OneDNNISA      string   `json:"onednn_isa,omitempty"` // oneDNN ISA cap (OneDNNISAs); "" = the library's choice
	Allocator      string   `json:"allocator,omitempty"`  // procknob.Allocators, normalized ("" = glibc)
	OMPWait        string   `json:"omp_wait,omitempty"`   // procknob.OMPWaits; "" = libgomp's default
	Pin            string   `json:"pin,omitempty"`        // procknob.ParsePin: "cores" or a CPU list; "" = none
}

// Validate checks what can be checked without loading anything or looking at the CPUs,
// knob by knob (the device first, then Table's order). Its errors name the flag and the fix.
func (k *Knobs) Validate() error {
	for _, kn := range validateOrder {
		if v := kn.Validate; v != nil {
			if err := v(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckCompile says whether s is a --compile value.
func CheckCompile(s string) error {
	if !slices.Contains(CompileModes, s) {
		return fmt.Errorf("--compile must be auto, on, off or inductor, got %q", s)
	}
	return nil
}

// AtStart returns the knobs of Scope AtStart (the CPU knobs), which must be in place
// when the process starts: procknob.Apply.
func (k Knobs) AtStart() procknob.Knobs {
	return procknob.Knobs{Allocator: k.Allocator, OMPWait: k.OMPWait, Pin: k.Pin}
}

// Normalize spells the knobs as records and keys do: device in lower case ("" is cpu), allocator "glibc"
// and pin "none" as "", a CPU list in its canonical form.
func (k Knobs) Normalize() Knobs {
	if k.Device = strings.ToLower(k.Device); k.Device == "" {
		k.Device = CPU
	}
	p := k.AtStart().Normalize()
	k.Allocator, k.OMPWait, k.Pin = p.Allocator, p.OMPWait, p.Pin
	return k
}

// Key is the configuration's identity in records, sweeps, baselines and the gate, e.g.
// "resnet18|b4|compile=on|t2|i0|cl=false|q=false|cpu". Seed records without a requested
// compile mode key by the one applied (record.Record.Key fills it in).
func (k Knobs) Key() string {
	parts := make([]string, 0, len(Table))
	for i := range Table {
		if p := Table[i].keyPart(k); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "|")
}

// Suffix is the human label of the knobs beyond model, batch, compile and threads, e.g.
// " channels_last int8 isa=avx2 jemalloc wait=active pin=cores" ("" when none is set).
func (k Knobs) Suffix() string {
	var s string
	for i := range Table {
		s += Table[i].labelPart(k)
	}
	return s
}

// Label is a short human label, e.g. "resnet18 b4 compile=on t2/1 channels_last".
func (k Knobs) Label() string {
	return fmt.Sprintf("%s b%d compile=%s t%d/%d", Printable(k.Model), k.BatchSize, k.Compile, k.Threads, k.InteropThreads) + k.Suffix()
}

// Same says whether a and b are the same configuration (the same Key).
func Same(a, b Knobs) bool { return a.Key() == b.Key() }

// Printable returns s with its control characters (newlines, carriage returns, tabs,
// escape sequences, Unicode line separators) written as Go escapes (\n, \x1b, \u2028):
// a name read from a file or a flag then stays on its line wherever it is rendered, and
// cannot start a markdown heading or a workflow command (::error::) of its own.
func Printable(s string) string { return untrusted.Printable(s) }

// OneDNNISAs are the values of --onednn-isa and of a preset's onednn_isa, as oneDNN 2.6
// names them for ONEDNN_MAX_CPU_ISA (lower case). "" (or "default" in presets) leaves
// the choice to the library: the best the CPU has.
var OneDNNISAs = []string{"sse41", "avx", "avx2", "avx2_vnni", "avx512_core", "avx512_core_vnni", "avx512_core_bf16", "avx512_core_amx"}

// CheckOneDNNISA returns an error naming the valid values when name is not one of them.
func CheckOneDNNISA(name string) error {
	for _, v := range OneDNNISAs {
		if name == v {
			return nil
		}
	}
	return fmt.Errorf("unknown oneDNN ISA %q: use one of %s (or leave it unset for the library's choice)", name, strings.Join(OneDNNISAs, ", "))
}

// PerProcess returns the knobs that apply to a whole process (Scope PerProcess and
// AtStart in Table: the model, thread pools, the oneDNN ISA and the CPU knobs), with the
// ones a process can hold side by side (PerConfig: batch size, compile, channels_last,
// quantize) cleared. Configurations with equal PerProcess knobs can share a worker
// process.
func (k Knobs) PerProcess() Knobs {
	for i := range Table {
		if Table[i].Scope == PerConfig {
			Table[i].clear(&k)
		}
	}
	return k
}

// ProcessArgs returns only the flags of the knobs that must be in place when a process
// starts (Scope AtStart: --allocator, --omp-wait, --pin), for a child that takes no others.
func (k Knobs) ProcessArgs() []string {
	return k.Args(Only(AtStart))
}

// CompileLabel says what was applied and, when it differs, what was asked: "on", "off
// (auto)" (auto fell back), "on (auto)".
func (k Knobs) CompileLabel(applied bool) string {
	s := CompileOff
	if applied {
		s = CompileOn
	}
	if k.Compile != "" && k.Compile != s {
		s += " (" + k.Compile + ")"
	}
	return s
}
