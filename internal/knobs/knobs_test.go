package knobs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// parse registers the flags on a fresh set with the defaults in base and parses args.
func parse(t *testing.T, base Knobs, args []string, opts ...FlagOption) Knobs {
	t.Helper()
	k := base
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(f, &k, opts...)
	if err := f.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return k
}

func TestArgsRoundTrip(t *testing.T) {
	defaults := Knobs{BatchSize: 1, Compile: CompileAuto}
	for _, tc := range []struct {
		name string
		k    Knobs
		opts []FlagOption
	}{
		{"plain", Knobs{Model: "resnet18", BatchSize: 4, Compile: CompileOn, Threads: 2, InteropThreads: 1}, nil},
		{"every knob", Knobs{Model: "/tmp/a b.pt", Inputs: []string{"float32[B,3,224,224]", "int64[B]:0..9"}, BatchSize: 8,
			Compile: CompileOff, Threads: 1, ChannelsLast: true, Quantize: true, OneDNNISA: "avx2", Allocator: "jemalloc", OMPWait: "passive", Pin: "0-1"}, nil},
		{"defaults", defaults, nil},
		{"load omits batch size", Knobs{Model: "mobilenet_v3_small", BatchSize: 1, Compile: CompileAuto, Threads: 1, Pin: "cores"}, []FlagOption{Omit(FlagBatchSize, FlagDevice)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			if k.Model == "" {
				k.Model = "m"
			}
			got := parse(t, defaults, k.Args(tc.opts...), tc.opts...)
			if !reflect.DeepEqual(got, k) {
				t.Errorf("Args -> flags changed the knobs:\n got %+v\nwant %+v\nargs %q", got, k, k.Args(tc.opts...))
			}
		})
	}
}

func TestArgsOmit(t *testing.T) {
	args := strings.Join(Knobs{Model: "m", BatchSize: 4, Compile: CompileOn}.Args(Omit(FlagModel, FlagBatchSize)), " ")
	if strings.Contains(args, "--model") || strings.Contains(args, "--batch-size") {
		t.Errorf("omitted flags in %q", args)
	}
	if !strings.Contains(args, "--compile on") {
		t.Errorf("--compile on missing in %q", args)
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		k    Knobs
		want string
	}{
		{Knobs{Model: "resnet18", BatchSize: 4, Compile: "on", Threads: 2}, "resnet18|b4|compile=on|t2|i0|cl=false|q=false|cpu"},
		{Knobs{Model: "x\ny", BatchSize: 1, Compile: "auto", Threads: 1, InteropThreads: 1, ChannelsLast: true, Quantize: true, Device: "cpu",
			OneDNNISA: "avx2", Allocator: "jemalloc", OMPWait: "active", Pin: "cores"},
			`x\ny|b1|compile=auto|t1|i1|cl=true|q=true|cpu|isa=avx2|alloc=jemalloc|wait=active|pin=cores`},
	} {
		if got := tc.k.Key(); got != tc.want {
			t.Errorf("Key() = %q, want %q", got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Knobs{Model: "resnet18", BatchSize: 1, Compile: CompileAuto}
	for _, tc := range []struct {
		name    string
		edit    func(*Knobs)
		wantErr string
	}{
		{"ok", func(*Knobs) {}, ""},
		{"cuda", func(k *Knobs) { k.Device = "cuda" }, "no CUDA support"},
		{"cuda:0", func(k *Knobs) { k.Device = "cuda:0" }, "no CUDA support"},
		{"tpu", func(k *Knobs) { k.Device = "tpu" }, `unknown --device "tpu"`},
		{"no model", func(k *Knobs) { k.Model = "" }, "--model is required"},
		{"batch 0", func(k *Knobs) { k.BatchSize = 0 }, "--batch-size must be >= 1"},
		{"huge batch", func(k *Knobs) { k.BatchSize = MaxBatch + 1 }, "more than"},
		{"threads", func(k *Knobs) { k.Threads = -1 }, "--threads must be >= 1"},
		{"interop", func(k *Knobs) { k.InteropThreads = -2 }, "--interop-threads must be >= 1"},
		{"compile", func(k *Knobs) { k.Compile = "yes" }, `--compile must be auto, on, off or inductor, got "yes"`},
		{"compile empty", func(k *Knobs) { k.Compile = "" }, `--compile must be auto, on, off or inductor`},
		{"isa", func(k *Knobs) { k.OneDNNISA = "avx9" }, "--onednn-isa: unknown oneDNN ISA"},
		{"allocator", func(k *Knobs) { k.Allocator = "mimalloc" }, "--allocator: unknown allocator"},
		{"omp wait", func(k *Knobs) { k.OMPWait = "spin" }, "--omp-wait: unknown policy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := ok
			tc.edit(&k)
			err := k.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestServingRoundTrip(t *testing.T) {
	for _, s := range []Serving{
		{Instances: 2, MaxBatch: 8, MaxDelayMs: 5, Arrival: Poisson, OfferedRPS: 40},
		{Instances: 1, MaxBatch: 1, MaxDelayMs: 0.25, Arrival: Constant},
	} {
		got := Serving{Instances: 1, MaxBatch: 1, Arrival: Poisson}
		f := pflag.NewFlagSet("t", pflag.ContinueOnError)
		got.AddFlags(f)
		if err := f.Parse(s.Args()); err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Errorf("Args -> flags: got %+v, want %+v (args %q)", got, s, s.Args())
		}
		if err := got.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", got, err)
		}
	}
	bad := Serving{Instances: 1, MaxBatch: 1, Arrival: "bursty"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--arrival") {
		t.Errorf("arrival bursty: %v", err)
	}
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	f.SetOutput(new(strings.Builder))
	bad.AddFlags(f)
	if err := f.Parse([]string{"--max-delay", "5"}); err == nil || !strings.Contains(err.Error(), "5ms") {
		t.Errorf("--max-delay 5 (no unit): %v", err)
	}
}
