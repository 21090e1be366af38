package sweep

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/presets"
)

func TestBuiltinPresetsParse(t *testing.T) {
	for _, name := range presets.Names() {
		for _, quick := range []bool{false, true} {
			p, err := Load(name, quick)
			if err != nil {
				t.Fatalf("Load(%s, quick=%t): %v", name, quick, err)
			}
			if p.Name != name || p.Quick != quick || len(p.Grids) == 0 || p.Iters < 1 {
				t.Errorf("Load(%s, %t) = %+v", name, quick, p)
			}
			cfgs, _, err := p.Expand(PlanOptions{})
			if err != nil || len(cfgs) == 0 {
				t.Errorf("Expand(%s, %t): %d configs, %v", name, quick, len(cfgs), err)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		quick      bool
		want       string
	}{
		{"unknown key", "name: x\nitrs: 3\ngrid:\n  models: [m.pt]\n", false, `line 2: unknown key "itrs"`},
		{"unknown grid key", "name: x\ngrid:\n  models: [m.pt]\n  batch: [1]\n", false, `line 4: unknown key "batch"`},
		{"bad compile", "name: x\ngrid:\n  models: [m.pt]\n  compile: [on,\n    maybe]\n", false, `line 5: compile: unknown value "maybe"`},
		{"bad batch", "name: x\ngrid:\n  models: [m.pt]\n  batch_size: [1, 0]\n", false, `line 4: batch_size: unknown value "0"`},
		{"bad bool", "name: x\ngrid:\n  models: [m.pt]\n  channels_last: [yes please]\n", false, `line 4: channels_last: unknown value "yes please"`},
		{"bad iters type", "name: x\niters: many\ngrid:\n  models: [m.pt]\n", false, "line 2"},
		{"negative warmup", "name: x\nwarmup: -1\ngrid:\n  models: [m.pt]\n", false, "warmup: must be >= 0"},
		{"bad percentile", "name: x\ntarget_percentile: p42\ngrid:\n  models: [m.pt]\n", false, `target_percentile: unknown value "p42"`},
		{"no name", "grid:\n  models: [m.pt]\n", false, `missing "name"`},
		{"no grid", "name: x\n", false, `no "grid"`},
		{"no models", "name: x\ngrid:\n  batch_size: [1]\n", false, `grid needs "models"`},
		{"grid and grids", "name: x\ngrid:\n  models: [a.pt]\ngrids:\n  - models: [b.pt]\n", false, "not both"},
		{"no quick", "name: x\ngrid:\n  models: [m.pt]\n", true, "has no quick subset"},
		{"empty list", "name: x\ngrid:\n  models: []\n", false, "empty list"},
		{"nested list", "name: x\ngrid:\n  models: [[a]]\n", false, "items must be plain values"},
		{"bad onednn_isa", "name: x\ngrid:\n  models: [m.pt]\n  onednn_isa: [default,\n    avx9]\n", false, `line 5: onednn_isa: unknown value "avx9" (want default or one of sse41,`},
		{"bad gate_configs", "name: x\ngate_configs: [fastest]\ngrid:\n  models: [m.pt]\n", false, `gate_configs: unknown value "fastest"`},
		{"bad allocator", "name: x\ngrid:\n  models: [m.pt]\n  allocator: [glibc, mimalloc]\n", false, `line 4: allocator: unknown value "mimalloc" (want default or glibc, jemalloc, tcmalloc)`},
		{"bad omp_wait", "name: x\ngrid:\n  models: [m.pt]\n  omp_wait: [spin]\n", false, `line 4: omp_wait: unknown value "spin" (want default or active, passive)`},
		{"empty file", "", false, "is empty: a preset needs"},
		{"only comments", "# nothing\n", false, "is empty"},
		{"NaN target_ci", "name: x\ntarget_ci: .nan\ngrid:\n  models: [m.pt]\n", false, `line 2: want a finite number, got ".nan"`},
		{"Inf max_seconds", "name: x\nmax_seconds: .inf\ngrid:\n  models: [m.pt]\n", false, `line 2: want a finite number, got ".inf"`},
		{"huge timeout", "name: x\ntimeout_seconds: 1e300\ngrid:\n  models: [m.pt]\n", false, "line 2: 1e300 is out of range"},
		{"NaN budget", "name: x\nmode: load\nlatency_budget_ms: .NaN\ngrid:\n  models: [m.pt]\n", false, "line 3: want a finite number"},
		{"huge duration", "name: x\nmode: load\nduration_s: 1e308\ngrid:\n  models: [m.pt]\n", false, "line 3: 1e308 is out of range"},
		{"huge iters", "name: x\niters: 100000000000\ngrid:\n  models: [m.pt]\n", false, "line 2: 100000000000 is out of range"},
		{"huge batch", "name: x\ngrid:\n  models: [m.pt]\n  batch_size: [1, 100000000]\n", false, `line 4: batch_size: unknown value "100000000" (want an integer from 1 to 65536)`},
		{"huge max_batch", "name: x\nmode: load\ngrid:\n  models: [m.pt]\n  max_batch: [1000000]\n", false, "line 5: max_batch: 1000000 is out of range"},
		{"Inf rate", "name: x\nmode: load\ngrid:\n  models: [m.pt]\n  rates: [.inf]\n", false, `line 5: rates: unknown value ".inf"`},
		{"bad pin", "name: x\ngrid:\n  models: [m.pt]\n  pin: [none,\n    all]\n", false, `line 5: pin: unknown value "all" (want default or none, cores or a CPU list such as 0-1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml), tt.quick)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "preset p.yaml") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q should be one line naming the preset", err)
			}
		})
	}
}

func TestGateConfigs(t *testing.T) {
	p, err := Parse("x", []byte("name: x\ngate_configs: [batch1, all]\ngrid:\n  models: [m.pt]\n"), false)
	if err != nil || strings.Join(p.GateConfigs, ",") != "batch1,all" {
		t.Errorf("gate_configs: %v, %v", p, err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load("nope", false); err == nil || !strings.Contains(err.Error(), "unknown preset") || !strings.Contains(err.Error(), "cpu_vision") {
		t.Errorf("Load(nope) = %v", err)
	}
	if _, err := Load("./missing.yaml", false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestQuickReplacesKeys(t *testing.T) {
	doc := "name: x\niters: 300\nwarmup: 7\ngrid:\n  models: [a.pt]\n  batch_size: [1, 2, 4]\nquick:\n  iters: 50\n  grid:\n    models: [a.pt]\n    batch_size: [1]\n"
	full, err := Parse("x", []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Parse("x", []byte(doc), true)
	if err != nil {
		t.Fatal(err)
	}
	if full.Iters != 300 || q.Iters != 50 || q.Warmup != 7 || len(full.Grids[0].Values["batch_size"]) != 3 || len(q.Grids[0].Values["batch_size"]) != 1 {
		t.Errorf("full %+v quick %+v", full, q)
	}
}

func mustParse(t *testing.T, doc string) *Preset {
	t.Helper()
	p, err := Parse("test", []byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExpand(t *testing.T) {
	p := mustParse(t, `name: t
grids:
  - models: [resnet18, tiny_transformer]
    batch_size: [1, 4]
    threads: [1, 8]
    compile: [off, on]
    channels_last: [false, true]
    quantize: [false, true]
  - models: [resnet18]
    batch_size: [1]
    threads: [1]
    compile: [off]
`)
	cfgs, skipped, err := p.Expand(PlanOptions{CPUsAvailable: 2})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, c := range cfgs {
		if keys[c.Key] {
			t.Errorf("duplicate %s", c.Key)
		}
		keys[c.Key] = true
		if c.Threads > 2 {
			t.Errorf("%s: threads above the CPUs available were not skipped", c.Key)
		}
		if c.Model == "resnet18" && c.Quantize {
			t.Errorf("%s: quantize does not apply to resnet18", c.Key)
		}
		if c.Model == "tiny_transformer" && c.ChannelsLast {
			t.Errorf("%s: channels_last does not apply to text", c.Key)
		}
		if c.InteropThreads != 1 {
			t.Errorf("%s: interop default should be 1", c.Key)
		}
	}
	// resnet18: 2 batch x 1 thread x 2 compile x 2 cl = 8; tiny: 2 x 1 x 2 x 2 quant = 8.
	if len(cfgs) != 16 {
		t.Errorf("got %d configs, want 16", len(cfgs))
	}
	if len(skipped) != 16 || !strings.Contains(skipped[0].Reason, "8 threads > 2 CPUs") {
		t.Errorf("skipped %d (%v), want 16 with the reason", len(skipped), skipped[:1])
	}
	only, _, err := p.Expand(PlanOptions{Models: []string{"tiny_transformer"}, CPUsAvailable: 2})
	if err != nil || len(only) != 8 {
		t.Errorf("--models tiny_transformer: %d configs, %v", len(only), err)
	}
	if _, _, err := p.Expand(PlanOptions{Models: []string{"bert"}}); err == nil || !strings.Contains(err.Error(), "bert is not in preset t") {
		t.Errorf("unknown --models: %v", err)
	}
}

func TestCustomModelKnobs(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [./a.pt]\n  inputs: ['float32[B,3,8,8]']\n  channels_last: [false, true]\n  quantize: [false, true]\n")
	cfgs, _, err := p.Expand(PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || !slices.Equal(cfgs[0].Inputs, []string{"float32[B,3,8,8]"}) {
		t.Errorf("custom vision model: %+v (want channels_last both ways, no quantize)", cfgs)
	}
}

func TestMakePlanOrder(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18, mobilenet_v3_small]\n  batch_size: [1, 2, 4, 8]\n  compile: [off, on]\n")
	plan := func(seed uint64, repeat int) []Config {
		pl, err := p.MakePlan(PlanOptions{Seed: seed, Repeat: repeat})
		if err != nil {
			t.Fatal(err)
		}
		return pl.Configs
	}
	a, b, c := plan(1, 1), plan(1, 1), plan(2, 1)
	if !slices.EqualFunc(a, b, func(x, y Config) bool { return x.Key == y.Key }) {
		t.Error("same seed, different order")
	}
	if slices.EqualFunc(a, c, func(x, y Config) bool { return x.Key == y.Key }) {
		t.Error("different seeds, same order")
	}
	r := plan(1, 3)
	if len(r) != 3*len(a) {
		t.Fatalf("repeat 3: %d configs, want %d", len(r), 3*len(a))
	}
	for round := 0; round < 3; round++ {
		seen := map[string]bool{}
		for _, cfg := range r[round*len(a) : (round+1)*len(a)] {
			if cfg.Repeat != round+1 || seen[cfg.Key] {
				t.Fatalf("round %d is not one full pass: %+v", round+1, cfg)
			}
			seen[cfg.Key] = true
		}
	}
}

func TestShards(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18]\n  batch_size: [1, 2, 4, 8, 16]\n  compile: [off, on]\n")
	all := map[string]int{}
	for i := 1; i <= 3; i++ {
		pl, err := p.MakePlan(PlanOptions{Shard: i, Shards: 3, Seed: uint64(i)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range pl.Configs {
			all[c.Key]++
		}
	}
	if len(all) != 10 {
		t.Errorf("shards cover %d configs, want 10", len(all))
	}
	for k, n := range all {
		if n != 1 {
			t.Errorf("%s in %d shards", k, n)
		}
	}
	for _, s := range []string{"0/3", "4/3", "x", "1/0", "2"} {
		if _, _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
}

// fakePerflab writes a shell script standing in for the perflab binary: it behaves as
// the case in $FAKE_CASE says, or by the model name it is given.
func fakePerflab(t *testing.T) string {
	t.Helper()
	script := `#!/bin/sh
model=""; batch=1; threads=1; interop=1; compile=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift;;
    --batch-size) batch=$2; shift;;
    --threads) threads=$2; shift;;
    --interop-threads) interop=$2; shift;;
    --compile) compile=$2; shift;;
  esac
  shift
done
case "$model" in
  crash.pt) echo "about to crash" >&2; kill -SEGV $$;;
  hang.pt) sleep 30;;
  bad.pt) echo "perflab: model file bad.pt is empty: re-export it" >&2; exit 2;;
  junk.pt) echo "not json" >&3;;
  prints.pt) echo '{"model": "printed by the model"';;
esac
echo "{\"schema_version\":1,\"mode\":\"bench\",\"status\":\"ok\",\"model\":\"$model\",\"batch_size\":$batch,\"compile\":true,\"compile_requested\":\"$compile\",\"threads\":$threads,\"interop_threads\":$interop,\"channels_last\":false,\"quantize\":false,\"device\":\"cpu\",\"latency_p50\":1,\"latency_p90\":2,\"latency_p95\":3,\"latency_p99\":4,\"throughput_rps\":100,\"forward_ms_per_batch\":1}" >&3
`
	path := filepath.Join(t.TempDir(), "perflab")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunnerOutcomes(t *testing.T) {
	p := mustParse(t, "name: t\ntimeout_seconds: 1\ngrid:\n  models: [ok.pt, crash.pt, hang.pt, bad.pt, junk.pt, prints.pt]\n  inputs: ['float32[B,8]']\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sub", "sweep.jsonl")
	var progress []string
	rn := &Runner{Preset: p, Exe: fakePerflab(t), Out: out, OrderSeed: 7,
		Progress: func(i, n int, c Config, r *record.Record, _ time.Duration) {
			progress = append(progress, fmt.Sprintf("%d/%d %s", i+1, n, c.Model))
		}}
	start := time.Now()
	res, err := rn.Run(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the hanging child was not killed at its timeout (run took %s)", took)
	}
	if res.Done != 2 || res.Failed != 4 || len(progress) != 6 {
		t.Fatalf("result %+v, progress %v", res, progress)
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Errorf("bad line written: %v", le) })
	if err != nil {
		t.Fatal(err)
	}
	byModel := map[string]*record.Record{}
	for _, r := range recs {
		byModel[r.Model] = r
		if r.Preset != "t" || r.Repeat != 1 || r.OrderSeed != 7 {
			t.Errorf("%s: sweep fields not set: %+v", r.Model, r)
		}
	}
	want := map[string]string{
		"ok.pt":    "",
		"crash.pt": "crashed: killed by signal segmentation fault: about to crash",
		"hang.pt":  "timed out after 1s",
		"bad.pt":   "exit status 2: model file bad.pt is empty: re-export it",
		"junk.pt":  "child wrote no valid record",
	}
	// What the model prints on stdout is kept apart from the result (fd 3), and noted.
	if r := byModel["prints.pt"]; r == nil || !r.OK() || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "the model printed on stdout") {
		t.Errorf("prints.pt: %+v, want ok with a note about its stdout", r)
	}
	for m, why := range want {
		r := byModel[m]
		if r == nil {
			t.Errorf("%s: no record", m)
			continue
		}
		if why == "" {
			if !r.OK() {
				t.Errorf("%s: %s", m, r.Error)
			}
			continue
		}
		if r.OK() || !strings.Contains(r.Error, why) {
			t.Errorf("%s: status %q error %q, want failed with %q", m, r.Status, r.Error, why)
		}
		if r.Key() != (Config{Knobs: knobs.Knobs{Model: m, BatchSize: 1, Compile: "auto", Threads: 1, InteropThreads: 1}}).key() {
			t.Errorf("%s: failed record keeps the wrong key %s", m, r.Key())
		}
	}
}

func TestResumeWithoutDuplicates(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [a.pt]\n  inputs: ['float32[B,8]']\n  batch_size: [1, 2, 4]\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 1, Repeat: 2})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "sweep.jsonl")
	rn := &Runner{Preset: p, Exe: fakePerflab(t), Out: out}
	// A first run interrupted after two configurations.
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	rn.Progress = func(int, int, Config, *record.Record, time.Duration) {
		if n++; n == 2 {
			cancel()
		}
	}
	res, err := rn.Run(ctx, plan, nil)
	if err != nil || !res.Interrupted || res.Done != 2 {
		t.Fatalf("interrupted run: %+v, %v", res, err)
	}
	// A malformed line in the file must not stop the resume.
	f, _ := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("{garbage\n")
	f.Close()
	var bad []int
	done, err := Done(out, func(le *record.LineError) { bad = append(bad, le.Line) })
	if err != nil || !slices.Equal(bad, []int{3}) {
		t.Fatalf("Done: %v, bad lines %v", err, bad)
	}
	rn.Progress = nil
	res, err = rn.Run(context.Background(), plan, done)
	if err != nil || res.Resumed != 2 || res.Done != 4 {
		t.Fatalf("resumed run: %+v, %v", res, err)
	}
	recs, _ := record.ReadFile(out, nil)
	count := map[string]int{}
	for _, r := range recs {
		count[r.Key()]++
	}
	if len(count) != 3 {
		t.Errorf("%d keys, want 3", len(count))
	}
	for k, c := range count {
		if c != 2 {
			t.Errorf("%s recorded %d times, want 2 (repeat 2, no duplicates)", k, c)
		}
	}
	// Resuming a complete sweep runs nothing.
	done, _ = Done(out, nil)
	res, err = rn.Run(context.Background(), plan, done)
	if err != nil || res.Done != 0 || res.Resumed != 6 {
		t.Errorf("complete sweep resumed: %+v, %v", res, err)
	}
}

func TestArgs(t *testing.T) {
	p := mustParse(t, "name: t\niters: 77\nwarmup: 3\ntarget_ci: 0.05\nmax_seconds: 4\ngrid:\n  models: [x.pt]\n  inputs: ['float32[B,3,8,8]']\n")
	rn := &Runner{Preset: p, ExtraArgs: []string{"--preprocess-iters", "0"}}
	got := strings.Join(rn.Args(Config{Knobs: knobs.Knobs{Model: "x.pt", Inputs: []string{"float32[B,3,8,8]"}, BatchSize: 4, Compile: "on", Threads: 2, InteropThreads: 1, ChannelsLast: true}}), " ")
	want := "bench --model x.pt --input float32[B,3,8,8] --batch-size 4 --compile on --threads 2 --interop-threads 1 --channels-last --iters 77 --warmup 3 --target-percentile p95 --target-ci 0.05 --max-seconds 4 --json --preprocess-iters 0"
	if got != want {
		t.Errorf("Args:\n got %s\nwant %s", got, want)
	}
}

// TestParseAliasesAndStrictInts: aliases to lists (and list items) are followed; a
// float, even tagged !!float, is refused where an integer is wanted.
func TestParseAliasesAndStrictInts(t *testing.T) {
	p := mustParse(t, "name: a\ngrids:\n  - models: [a.pt]\n    inputs: &in ['float32[B,8]']\n    batch_size: &b [1, &two 2]\n  - models: [b.pt]\n    inputs: *in\n    batch_size: *b\n    threads: [*two]\n")
	if len(p.Grids) != 2 || !slices.Equal(p.Grids[1].Values["batch_size"], []string{"1", "2"}) || !slices.Equal(p.Grids[1].Inputs, []string{"float32[B,8]"}) || !slices.Equal(p.Grids[1].Values["threads"], []string{"2"}) {
		t.Fatalf("aliases not followed: %+v", p.Grids)
	}
	for _, doc := range []string{
		"name: f\niters: !!float 20.5\ngrid:\n  models: [a.pt]\n",
		"name: f\niters: 20.5\ngrid:\n  models: [a.pt]\n",
		"name: f\nwarmup: !!float 2\ngrid:\n  models: [a.pt]\n",
		"name: f\ngrid:\n  models: [a.pt]\n  batch_size: [!!float 2]\n",
	} {
		if _, err := Parse("f.yaml", []byte(doc), false); err == nil || !strings.Contains(err.Error(), "line ") {
			t.Errorf("Parse(%q) = %v, want an error with its line", doc, err)
		}
	}
}

// TestOneDNNISADimension: a preset's onednn_isa values become distinct configurations,
// keyed apart, and reach the child as --onednn-isa ("default" passes nothing).
func TestOneDNNISADimension(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18]\n  compile: [on]\n  onednn_isa: [default, avx2]\n")
	cfgs, _, err := p.Expand(PlanOptions{Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].OneDNNISA != "" || cfgs[1].OneDNNISA != "avx2" || cfgs[0].Key == cfgs[1].Key {
		t.Fatalf("configs %+v", cfgs)
	}
	if !strings.HasSuffix(cfgs[1].Key, "|isa=avx2") || strings.Contains(cfgs[0].Key, "isa=") {
		t.Errorf("keys %q, %q", cfgs[0].Key, cfgs[1].Key)
	}
	rn := &Runner{Preset: p}
	if a := strings.Join(rn.Args(cfgs[1]), " "); !strings.Contains(a, "--onednn-isa avx2") {
		t.Errorf("child args %q lack --onednn-isa avx2", a)
	}
	if a := strings.Join(rn.Args(cfgs[0]), " "); strings.Contains(a, "--onednn-isa") {
		t.Errorf("child args %q pass an ISA for default", a)
	}
}

// TestProcessKnobDimensions: allocator, omp_wait and pin values become distinct
// configurations, keyed as their records will be, passed to the child as flags
// ("default", "glibc" and "none" pass nothing), and skipped with the reason when the
// machine cannot run them.
func TestProcessKnobDimensions(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18]\n  threads: [2]\n  allocator: [default, glibc, jemalloc]\n  omp_wait: [default, passive]\n  pin: [none, \"1,0\"]\n")
	cfgs, _, err := p.Expand(PlanOptions{Repeat: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 8 { // glibc is the default allocator: 2 x 2 x 2
		t.Fatalf("%d configs, want 8: %v", len(cfgs), cfgs)
	}
	rn := &Runner{Preset: p}
	keys := map[string]bool{}
	for _, c := range cfgs {
		keys[c.Key] = true
		r := &record.Record{Knobs: knobs.Knobs{Model: c.Model, BatchSize: c.BatchSize, Compile: c.Compile, Threads: c.Threads, InteropThreads: c.InteropThreads, Allocator: c.Allocator, OMPWait: c.OMPWait, Pin: c.Pin}}
		if r.Key() != c.Key {
			t.Errorf("config key %q, its record's %q", c.Key, r.Key())
		}
		args := strings.Join(rn.Args(c), " ")
		for flag, v := range map[string]string{"--allocator": c.Allocator, "--omp-wait": c.OMPWait, "--pin": c.Pin} {
			if has := strings.Contains(args, flag); has != (v != "") || (v != "" && !strings.Contains(args, flag+" "+v)) {
				t.Errorf("%s: child args %q and %s %q", c, args, flag, v)
			}
		}
	}
	if len(keys) != 8 || !keys[cfgs[7].Key] || !strings.HasSuffix(cfgs[7].Key, "|alloc=jemalloc|wait=passive|pin=0-1") {
		t.Errorf("keys %v", keys)
	}
	check := func(k procknob.Knobs) error {
		if k.Allocator == "jemalloc" {
			return errors.New("--allocator jemalloc: libjemalloc.so.2 is not installed")
		}
		return nil
	}
	cfgs, skipped, err := p.Expand(PlanOptions{Repeat: 1, CheckKnobs: check})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 4 || len(skipped) != 4 || !strings.Contains(skipped[0].Reason, "not installed") {
		t.Errorf("with jemalloc missing: %d configs, skipped %+v", len(cfgs), skipped)
	}
}
