package knobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/procknob"
)

// Scope says how far one value of a knob reaches.
type Scope int

const (
	// PerConfig knobs differ between configurations that share one process (batch size,
	// compile, channels_last, quantize): a sweep worker prepares them side by side.
	PerConfig Scope = iota
	// PerProcess knobs hold for a whole process and are set once it runs (the model, the
	// thread pools, the oneDNN ISA): each value needs processes of its own.
	PerProcess
	// AtStart knobs hold for a whole process and must be in place before it starts (the
	// CPU knobs: allocator, OpenMP wait policy, pinning; procknob.Apply re-executes the
	// process with them): each value needs processes of its own, started with its flags.
	AtStart
)

// Kind is the Go type of a knob's value.
type Kind int

const (
	String Kind = iota
	Int
	Bool
	StringList // repeated flag (--input)
)

// MaxPresetInt is the largest integer a preset's knob takes unless the knob says less.
const MaxPresetInt = 10_000_000

// Knob is one row of Table: everything perflab knows about one setting of Knobs. Flags
// (AddFlags), a child's arguments (Args), the preset grid (sweep: key, default values,
// validation, the order of the product), the configuration's key (Key), its label
// (Suffix), the sweep worker's flags and which knobs a process holds (PerProcess,
// AtStart) all read it. Adding a knob is a field of Knobs, a row here, and its use in
// the binding (bench.Prepare, torchsvc, procknob).
type Knob struct {
	Name  string // the record's JSON field (the struct tag), e.g. "batch_size"
	Flag  string // the flag of bench, load and gate --ab, e.g. "batch-size"
	Usage string // the flag's help text
	Kind  Kind
	Scope Scope

	// Preset is the key of a preset grid ("" = presets do not set it: device has one value).
	Preset string
	// Axis: a grid sweeps the knob's values, one configuration each (models and inputs are
	// the grid's, not an axis). GridRank orders the axes in the product (the first varies
	// slowest): the order of a seeded plan depends on it, so a new axis comes last.
	Axis     bool
	GridRank int
	// GridDefault are the values of a grid that leaves the key out, as YAML spells them.
	GridDefault []string
	// PresetDefault: "default" in a preset stands for the unset value ("").
	PresetDefault bool
	// Min is the smallest integer a preset may give (Int knobs); Max the largest (0 =
	// MaxPresetInt): a batch of 10^8 exhausts memory rather than measuring anything.
	Min, Max int
	// Check says whether a preset value (not "default") is valid; Want is the "(want ...)"
	// of its error. nil checks the Kind only.
	Check func(string) error
	Want  string
	// Normalize gives a value the one spelling keys and records use (nil = as given).
	Normalize func(string) string

	// ArgAlways: Args always passes the flag; otherwise only when the knob is set (a
	// non-empty string other than Unset, a true bool).
	ArgAlways bool
	// Unset is the text, besides "", that leaves the knob at its default (device: cpu).
	Unset string

	// KeyPrefix precedes the knob's value in Key ("b", "compile="); KeyOptional parts are left out when the knob is unset; NoKey knobs are
	// not part of the key (inputs: the model file's hash is the record's).
	KeyPrefix   string
	KeyOptional bool
	NoKey       bool
	// LabelWord is the knob's word in Suffix when set: a bool's word, or a format with
	// one %s for the value ("isa=%s"); "" = not in the suffix (the head of Label has it).
	LabelWord string
	// UnsetName names the unset value in words ("glibc", "the library's choice"): the
	// report's knob effects compare each value with it.
	UnsetName string

	// Validate checks the knob's value in k (Knobs.Validate); errors name the flag.
	Validate func(k *Knobs) error

	field func(*Knobs) any // *string, *int, *bool or *[]string
}

// Table is every knob of a configuration, in the order of its parts in Key, of the flags
// in Args, and of Knobs.Validate's checks (but the device's, which come first).
var Table = []Knob{
	{Name: "model", Flag: FlagModel, Kind: String, Scope: PerProcess, Usage: "built-in model name or path to a TorchScript file (required)",
		Preset: "models", ArgAlways: true,
		Validate: func(k *Knobs) error {
			if k.Model == "" {
				return fmt.Errorf("--model is required: a built-in model name or a TorchScript file")
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.Model }},
	{Name: "inputs", Flag: FlagInput, Kind: StringList, Scope: PerProcess,
		Usage:  "forward argument of a TorchScript file, e.g. 'float32[B,3,224,224]' or 'int64[B,128]:0..8191' (repeat per argument)",
		Preset: "inputs", NoKey: true,
		field: func(k *Knobs) any { return &k.Inputs }},
	{Name: "batch_size", Flag: FlagBatchSize, Kind: Int, Scope: PerConfig, Usage: "batch size B",
		Preset: "batch_size", Axis: true, GridRank: 0, GridDefault: []string{"1"}, Min: 1, Max: 65536, ArgAlways: true, KeyPrefix: "b",
		Validate: func(k *Knobs) error {
			switch {
			case k.BatchSize < 1:
				return fmt.Errorf("--batch-size must be >= 1, got %d", k.BatchSize)
			case k.BatchSize > MaxBatch:
				return fmt.Errorf("--batch-size %d is more than %d", k.BatchSize, MaxBatch)
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.BatchSize }},
	{Name: "compile_requested", Flag: FlagCompile, Kind: String, Scope: PerConfig, Usage: "freeze + optimize_for_inference: auto, on or off; inductor: the model's AOTInductor package (.pt2, libtorch 2.6+; a torch.export program is compiled and cached); auto runs a .pt2 model as inductor, else on when its outputs match",
		Preset: "compile", Axis: true, GridRank: 3, GridDefault: []string{CompileAuto}, Check: CheckCompile, Want: "auto, on, off or inductor",
		ArgAlways: true, KeyPrefix: "compile=",
		Validate: func(k *Knobs) error { return CheckCompile(k.Compile) },
		field:    func(k *Knobs) any { return &k.Compile }},
	{Name: "threads", Flag: FlagThreads, Kind: Int, Scope: PerProcess, Usage: "intra-op threads (default: CPUs available to the process, cgroup-aware)",
		Preset: "threads", Axis: true, GridRank: 1, GridDefault: []string{"1"}, Min: 1, ArgAlways: true, KeyPrefix: "t",
		Validate: func(k *Knobs) error {
			if k.Threads < 0 {
				return fmt.Errorf("--threads must be >= 1 (or 0 for the CPUs available), got %d", k.Threads)
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.Threads }},
	{Name: "interop_threads", Flag: FlagInteropThreads, Kind: Int, Scope: PerProcess, Usage: "inter-op threads (default: libtorch's choice)",
		Preset: "interop_threads", Axis: true, GridRank: 2, GridDefault: []string{"1"}, Min: 1, ArgAlways: true, KeyPrefix: "i",
		Validate: func(k *Knobs) error {
			if k.InteropThreads < 0 {
				return fmt.Errorf("--interop-threads must be >= 1 (or 0 for libtorch's default), got %d", k.InteropThreads)
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.InteropThreads }},
	{Name: "channels_last", Flag: FlagChannelsLast, Kind: Bool, Scope: PerConfig, Usage: "channels_last memory format for model and input (vision models)",
		Preset: "channels_last", Axis: true, GridRank: 4, GridDefault: []string{"false"}, KeyPrefix: "cl=", LabelWord: "channels_last",
		field: func(k *Knobs) any { return &k.ChannelsLast }},
	{Name: "quantize", Flag: FlagQuantize, Kind: Bool, Scope: PerConfig, Usage: "use the model's dynamic-int8 variant (tiny_transformer)",
		Preset: "quantize", Axis: true, GridRank: 5, GridDefault: []string{"false"}, KeyPrefix: "q=", LabelWord: "int8",
		field: func(k *Knobs) any { return &k.Quantize }},
	{Name: "device", Flag: FlagDevice, Kind: String, Scope: PerProcess, Usage: "device; only cpu (this libtorch has no CUDA)",
		Unset: CPU,
		Validate: func(k *Knobs) error {
			switch d := strings.ToLower(k.Device); {
			case d == "" || d == CPU:
			case d == "cuda" || d == "gpu" || d == "mps":
				return fmt.Errorf("--device %s is not available: this libtorch (Debian's 1.13 CPU build) has no %s support; use --device cpu", k.Device, strings.ToUpper(k.Device))
			case strings.HasPrefix(d, "cuda:"):
				return fmt.Errorf("--device %s is not available: this libtorch has no CUDA support; use --device cpu", k.Device)
			default:
				return fmt.Errorf("unknown --device %q: use cpu", k.Device)
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.Device }},
	{Name: "onednn_isa", Flag: FlagOneDNNISA, Kind: String, Scope: PerProcess,
		Usage:  "cap oneDNN's CPU kernels at this ISA for this process: " + strings.Join(OneDNNISAs, ", ") + " (default: the best the CPU has)",
		Preset: "onednn_isa", Axis: true, GridRank: 6, GridDefault: []string{"default"}, PresetDefault: true, Check: CheckOneDNNISA, Want: "one of " + strings.Join(OneDNNISAs, ", "),
		KeyPrefix: "isa=", KeyOptional: true, LabelWord: "isa=%s", UnsetName: "the library's choice",
		Validate: func(k *Knobs) error {
			if k.OneDNNISA != "" {
				if err := CheckOneDNNISA(k.OneDNNISA); err != nil {
					return fmt.Errorf("--onednn-isa: %v", err)
				}
			}
			return nil
		},
		field: func(k *Knobs) any { return &k.OneDNNISA }},
	{Name: "allocator", Flag: FlagAllocator, Kind: String, Scope: AtStart,
		Usage:  "memory allocator, preloaded before libtorch starts: " + strings.Join(procknob.Allocators, ", ") + " (default: the environment's, glibc)",
		Preset: "allocator", Axis: true, GridRank: 7, GridDefault: []string{"default"}, PresetDefault: true,
		Check: func(v string) error { return checkIn(v, procknob.Allocators) }, Want: strings.Join(procknob.Allocators, ", "),
		Normalize: func(v string) string { return procknob.Knobs{Allocator: v}.Normalize().Allocator },
		KeyPrefix: "alloc=", KeyOptional: true, LabelWord: "%s", UnsetName: "glibc",
		Validate: func(k *Knobs) error { return procknob.Knobs{Allocator: k.Allocator}.Validate() },
		field:    func(k *Knobs) any { return &k.Allocator }},
	{Name: "omp_wait", Flag: FlagOMPWait, Kind: String, Scope: AtStart,
		Usage:  "OpenMP wait policy of libtorch's threads: active (spin) or passive (sleep) (default: libgomp's, spin a while then sleep)",
		Preset: "omp_wait", Axis: true, GridRank: 8, GridDefault: []string{"default"}, PresetDefault: true,
		Check: func(v string) error { return checkIn(v, procknob.OMPWaits) }, Want: strings.Join(procknob.OMPWaits, ", "),
		KeyPrefix: "wait=", KeyOptional: true, LabelWord: "wait=%s", UnsetName: "libgomp's default",
		Validate: func(k *Knobs) error { return procknob.Knobs{OMPWait: k.OMPWait}.Validate() },
		field:    func(k *Knobs) any { return &k.OMPWait }},
	{Name: "pin", Flag: FlagPin, Kind: String, Scope: AtStart,
		Usage:  "thread pinning: none, cores (one OpenMP thread per core) or a CPU list such as 0-1 (the process on those CPUs)",
		Preset: "pin", Axis: true, GridRank: 9, GridDefault: []string{"default"}, PresetDefault: true,
		Check: func(v string) error { _, err := procknob.ParsePin(v); return err }, Want: "none, cores or a CPU list such as 0-1",
		Normalize: func(v string) string { return procknob.Knobs{Pin: v}.Normalize().Pin },
		KeyPrefix: "pin=", KeyOptional: true, LabelWord: "pin=%s", UnsetName: "none",
		Validate: func(k *Knobs) error { return procknob.Knobs{Pin: k.Pin}.Validate() },
		field:    func(k *Knobs) any { return &k.Pin }},
}

// validateOrder is Table with the device first: without it nothing else matters.
var validateOrder = func() []*Knob {
	var ks []*Knob
	for i := range Table {
		ks = append(ks, &Table[i])
	}
	slices.SortStableFunc(ks, func(a, b *Knob) int { return cmpBool(a.Name != "device", b.Name != "device") })
	return ks
}()

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Axes are the knobs a preset grid sweeps (Axis), in GridRank order.
var Axes = func() []*Knob {
	var ks []*Knob
	for i := range Table {
		if Table[i].Axis {
			ks = append(ks, &Table[i])
		}
	}
	slices.SortStableFunc(ks, func(a, b *Knob) int { return a.GridRank - b.GridRank })
	return ks
}()

// ByPreset returns the row of the knob with this preset key.
func ByPreset(key string) (*Knob, bool) {
	for i := range Table {
		if Table[i].Preset == key {
			return &Table[i], true
		}
	}
	return nil, false
}

// Lookup returns the row of the knob with this record name.
func Lookup(name string) (*Knob, bool) {
	for i := range Table {
		if Table[i].Name == name {
			return &Table[i], true
		}
	}
	return nil, false
}

func checkIn(v string, valid []string) error {
	if !slices.Contains(valid, v) {
		return fmt.Errorf("unknown value %q", v)
	}
	return nil
}

// Text returns the knob's value in k as text (a list joined with commas).
func (kn *Knob) Text(k Knobs) string {
	switch p := kn.field(&k).(type) {
	case *string:
		return *p
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *[]string:
		return strings.Join(*p, ",")
	}
	panic("knobs: bad field of " + kn.Name)
}

// Set sets the knob's value in k from text (the inverse of Text, but for lists).
func (kn *Knob) Set(k *Knobs, text string) error {
	switch p := kn.field(k).(type) {
	case *string:
		*p = text
	case *int:
		v, err := strconv.Atoi(text)
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %q", kn.Name, text)
		}
		*p = v
	case *bool:
		v, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", kn.Name, text)
		}
		*p = v
	case *[]string:
		*p = strings.Split(text, ",")
	}
	return nil
}

// clear sets the knob in k to its zero value.
func (kn *Knob) clear(k *Knobs) {
	switch p := kn.field(k).(type) {
	case *string:
		*p = ""
	case *int:
		*p = 0
	case *bool:
		*p = false
	case *[]string:
		*p = nil
	}
}

// IsSet says whether the knob in k differs from its default ("", Unset, false, an empty list).
func (kn *Knob) IsSet(k Knobs) bool {
	switch p := kn.field(&k).(type) {
	case *bool:
		return *p
	case *[]string:
		return len(*p) > 0
	}
	t := kn.Text(k)
	return t != "" && t != kn.Unset
}

// keyPart is the knob's part of Key, or "" when it is left out.
func (kn *Knob) keyPart(k Knobs) string {
	t := kn.Text(k)
	switch {
	case kn.NoKey, kn.KeyOptional && !kn.IsSet(k):
		return ""
	case t == "" && kn.Unset != "":
		t = kn.Unset
	case kn.Name == "model":
		t = Printable(t)
	}
	return kn.KeyPrefix + t
}

// labelPart is the knob's word in Suffix (with a leading space), or "".
func (kn *Knob) labelPart(k Knobs) string {
	if kn.LabelWord == "" || !kn.IsSet(k) {
		return ""
	}
	if kn.Kind == Bool {
		return " " + kn.LabelWord
	}
	return " " + fmt.Sprintf(kn.LabelWord, kn.Text(k))
}

// PresetValue checks one value of the knob as a preset gives it and returns it in the
// spelling of Knobs ("default" as ""). The error is the "unknown value" text of a preset
// error, without its source and line.
func (kn *Knob) PresetValue(v string) (string, error) {
	if kn.PresetDefault && v == "default" {
		return "", nil
	}
	bad := func(want string) (string, error) {
		return "", fmt.Errorf("%s: unknown value %q (want %s)", kn.Preset, v, want)
	}
	switch kn.Kind {
	case Int:
		n, err := strconv.Atoi(v)
		most := kn.Max
		if most == 0 {
			most = MaxPresetInt
		}
		if err != nil || n < kn.Min || n > most {
			return bad(fmt.Sprintf("an integer from %d to %d", kn.Min, most))
		}
		return strconv.Itoa(n), nil
	case Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return bad("true or false")
		}
		return strconv.FormatBool(b), nil
	}
	if kn.Check != nil && kn.Check(v) != nil {
		if kn.PresetDefault {
			return bad("default or " + kn.Want)
		}
		return bad(kn.Want)
	}
	if kn.Normalize != nil {
		v = kn.Normalize(v)
	}
	return v, nil
}
