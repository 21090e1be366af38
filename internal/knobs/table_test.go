package knobs

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// samples is a value other than the default of every knob of Table. A new knob fails
// TestTableWalk until it has one here.
var samples = map[string]string{
	"model": "m2.pt", "inputs": "float32[B,8]", "batch_size": "4", "compile_requested": "on", "threads": "3", "interop_threads": "2",
	"channels_last": "true", "quantize": "true", "device": "cuda", "onednn_isa": "avx2", "allocator": "jemalloc", "omp_wait": "active", "pin": "0-1",
}

// TestTableWalk walks Table: every field of Knobs has one row named by its JSON tag, and
// every row has a flag (AddFlags registers it), a preset key (but the device), a part in
// Args that round-trips, a part in Key when set (but the inputs), and the scope
// PerProcess and AtStart follow.
func TestTableWalk(t *testing.T) {
	typ := reflect.TypeOf(Knobs{})
	if typ.NumField() != len(Table) {
		t.Fatalf("Knobs has %d fields, Table %d rows: a knob without a row (or a row without a field)", typ.NumField(), len(Table))
	}
	base := Knobs{Model: "m", BatchSize: 1, Compile: CompileAuto, Threads: 1}
	f := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var reg Knobs
	AddFlags(f, &reg)
	for i := range Table {
		kn := &Table[i]
		t.Run(kn.Name, func(t *testing.T) {
			var k Knobs
			field := reflect.ValueOf(kn.field(&k)).Pointer()
			for j := 0; j < typ.NumField(); j++ {
				if reflect.ValueOf(&k).Elem().Field(j).Addr().Pointer() == field {
					if tag, _, _ := strings.Cut(typ.Field(j).Tag.Get("json"), ","); tag != kn.Name {
						t.Errorf("row %s is the field %s, whose JSON name is %q", kn.Name, typ.Field(j).Name, tag)
					}
				}
			}
			if kn.Flag == "" || f.Lookup(kn.Flag) == nil {
				t.Errorf("no flag --%s", kn.Flag)
			}
			if kn.Preset == "" && kn.Name != "device" {
				t.Errorf("no preset key")
			}
			if kn.Axis && gridAxisCount(kn.Preset) != 1 {
				t.Errorf("preset key %q is not one axis of Axes", kn.Preset)
			}
			sample, ok := samples[kn.Name]
			if !ok {
				t.Fatalf("no sample value in samples: add one")
			}
			k = base
			if err := kn.Set(&k, sample); err != nil {
				t.Fatal(err)
			}
			if !kn.IsSet(k) || kn.Text(k) != sample {
				t.Fatalf("Set(%q): Text %q, IsSet %v", sample, kn.Text(k), kn.IsSet(k))
			}
			if got := parse(t, base, k.Args()); !reflect.DeepEqual(got, k) {
				t.Errorf("Args %q parse back to %+v, want %+v", k.Args(), got, k)
			}
			if !slices.Contains(k.Args(), "--"+kn.Flag) {
				t.Errorf("Args %q has no --%s", k.Args(), kn.Flag)
			}
			if kn.NoKey == (k.Key() != base.Key()) {
				t.Errorf("Key %q (default %q): NoKey is %v", k.Key(), base.Key(), kn.NoKey)
			}
			if kept := !reflect.DeepEqual(k.PerProcess(), base.PerProcess()); kept == (kn.Scope == PerConfig) {
				t.Errorf("PerProcess keeps it: %v; scope %d", kept, kn.Scope)
			}
			if inAtStart := k.AtStart() != base.AtStart(); inAtStart != (kn.Scope == AtStart) {
				t.Errorf("AtStart has it: %v; scope %d", inAtStart, kn.Scope)
			}
			if only := k.Args(Only(AtStart)); slices.Contains(only, "--"+kn.Flag) != (kn.Scope == AtStart) {
				t.Errorf("Args(Only(AtStart)) = %q", only)
			}
			if kn.Axis {
				if v, err := kn.PresetValue(sample); err != nil || v != sample {
					t.Errorf("PresetValue(%q) = %q, %v", sample, v, err)
				}
				if _, err := kn.PresetValue("no such value"); err == nil || !strings.HasPrefix(err.Error(), kn.Preset+": unknown value") {
					t.Errorf("PresetValue of a bad value: %v", err)
				}
				if len(kn.GridDefault) == 0 {
					t.Errorf("no GridDefault")
				}
			}
		})
	}
}

func gridAxisCount(key string) int {
	n := 0
	for _, kn := range Axes {
		if kn.Preset == key {
			n++
		}
	}
	return n
}

// TestAxesOrder: the grid's product order (which a seeded plan's order depends on) is the
// one sweeps had before the table.
func TestAxesOrder(t *testing.T) {
	var got []string
	for _, kn := range Axes {
		got = append(got, kn.Preset)
	}
	want := []string{"batch_size", "threads", "interop_threads", "compile", "channels_last", "quantize", "onednn_isa", "allocator", "omp_wait", "pin"}
	if !slices.Equal(got, want) {
		t.Errorf("Axes = %q, want %q", got, want)
	}
}

func TestSuffixAndLabel(t *testing.T) {
	k := Knobs{Model: "m", BatchSize: 4, Compile: "on", Threads: 2, InteropThreads: 1, ChannelsLast: true, Quantize: true,
		OneDNNISA: "avx2", Allocator: "jemalloc", OMPWait: "active", Pin: "cores"}
	if got, want := k.Label(), "m b4 compile=on t2/1 channels_last int8 isa=avx2 jemalloc wait=active pin=cores"; got != want {
		t.Errorf("Label() = %q, want %q", got, want)
	}
	if got := (Knobs{Model: "m", BatchSize: 1, Compile: "off"}).Suffix(); got != "" {
		t.Errorf("Suffix of defaults = %q", got)
	}
}
