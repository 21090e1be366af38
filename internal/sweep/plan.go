package sweep

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
)

// Config is one planned configuration of a sweep: its knobs and, in a load preset, how
// it is served (Serving.MaxBatch is the knobs' batch size there). JSON names are the
// record's (the --dry-run format).
type Config struct {
	knobs.Knobs
	*knobs.Serving        // load presets only; nil for bench
	Repeat         int    `json:"repeat"` // 1-based
	Key            string `json:"key"`

	// Load presets: the configuration runs at Serving.OfferedRPS, or searches its capacity
	// at LatencyPct <= BudgetMs.
	Mode         string  `json:"mode,omitempty"` // "load"; "" for bench
	FindCapacity bool    `json:"find_capacity,omitempty"`
	LatencyPct   string  `json:"latency_pct,omitempty"`
	BudgetMs     float64 `json:"latency_budget_ms,omitempty"`
}

// Skipped is a configuration the plan leaves out, and why.
type Skipped struct {
	Config Config
	Reason string
}

// PlanOptions select and order a preset's configurations.
type PlanOptions struct {
	Models        []string // keep only these models (nil = all of the preset's)
	Repeat        int      // times each configuration runs (>= 1)
	Seed          uint64   // shuffle seed, recorded in every record as order_seed
	CPUsAvailable float64  // thread counts above this are skipped
	CPUISA        string   // the CPU's ISA flags (env.CPUISA): onednn_isa caps that change nothing are skipped; "" = keep all
	// CheckKnobs says why a configuration's CPU serving knobs cannot run on this machine
	// (procknob.Knobs.Validate: an allocator not installed, CPUs not available); such
	// configurations are skipped. nil = keep all.
	CheckKnobs func(procknob.Knobs) error
	// Unsupported says why this runtime cannot run a configuration at all (compile inductor
	// on libtorch before 2.6), "" when it can; such configurations are skipped as
	// unsupported, not run and failed. nil = keep all.
	Unsupported   func(knobs.Knobs) string
	Shard, Shards int // run only shard Shard of Shards (1-based); 0/0 = all
}

// Plan is the ordered list of configurations to run.
type Plan struct {
	Configs []Config
	Skipped []Skipped
}

// key is the configuration key of c, equal to record.Record.Key of its result.
func (c Config) key() string {
	return c.record().Key()
}

// record returns a record holding only c's configuration (no measurement).
func (c Config) record() *record.Record {
	r := &record.Record{SchemaVersion: record.SchemaVersion, Mode: "bench", Knobs: c.Knobs}
	r.Device = knobs.CPU
	if c.Mode == ModeLoad {
		r.Mode = ModeLoad
		r.Load = &record.LoadInfo{Serving: *c.Serving, LatencyPct: c.LatencyPct, LatencyBudgetMs: c.BudgetMs}
		if c.FindCapacity {
			r.Load.Capacity = &record.Capacity{LatencyPct: c.LatencyPct, BudgetMs: c.BudgetMs}
		}
	}
	return r
}

// String is a short human label, e.g. "resnet18 b4 compile=on t2/1 channels_last".
func (c Config) String() string {
	s := c.Knobs.Label()
	if c.Mode == ModeLoad {
		s = fmt.Sprintf("%s %dx%dt max-batch %d delay %gms compile=%s", record.Printable(c.Model), c.Instances, c.Threads, c.BatchSize, c.MaxDelayMs, c.Compile)
		if c.Arrival != "" && c.Arrival != knobs.Poisson {
			s += " " + c.Arrival
		}
		if c.FindCapacity {
			s += fmt.Sprintf(" capacity@%s<=%gms", c.LatencyPct, c.BudgetMs)
		} else {
			s += fmt.Sprintf(" %g req/s", c.OfferedRPS)
		}
		s += c.Knobs.Suffix()
	}
	if c.Repeat > 1 {
		s += " #" + strconv.Itoa(c.Repeat)
	}
	return s
}

// MarshalLine returns c as one JSON line (the --dry-run format).
func (c Config) MarshalLine() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Expand lists the preset's distinct configurations in grid order, leaving out knobs that
// do not apply to a model (channels_last without an image input, quantize without an int8
// variant) and thread counts above the CPUs available.
func (p *Preset) Expand(opts PlanOptions) ([]Config, []Skipped, error) {
	want := map[string]bool{}
	for _, m := range opts.Models {
		want[m] = true
	}
	found := map[string]bool{}
	seen := map[string]bool{}
	var out []Config
	var skipped []Skipped
	// add keeps cfg unless it repeats one already planned, has a knob that does not apply to
	// its model, or needs more CPUs (cpus) than the process has.
	add := func(cfg Config, vision, int8 bool, cpus int, why string) {
		cfg.Key = cfg.key()
		switch {
		case seen[cfg.Key]:
			return
		case cfg.ChannelsLast && !vision, cfg.Quantize && !int8:
			return // the knob does not apply to this model
		case cfg.OneDNNISA != "" && opts.CPUISA != "" && env.OneDNNISAIsDefault(cfg.OneDNNISA, opts.CPUISA):
			skipped = append(skipped, Skipped{cfg, fmt.Sprintf("onednn_isa %s: the same kernels as the library's choice on this CPU (%s)", cfg.OneDNNISA, opts.CPUISA)})
		case cfg.Pin != "" && cfg.Serving != nil && cfg.Instances > 1:
			skipped = append(skipped, Skipped{cfg, procknob.ErrPinInstances.Error()})
		case opts.Unsupported != nil && opts.Unsupported(cfg.Knobs) != "":
			skipped = append(skipped, Skipped{cfg, opts.Unsupported(cfg.Knobs)})
		case opts.CheckKnobs != nil && opts.CheckKnobs(cfg.AtStart()) != nil:
			skipped = append(skipped, Skipped{cfg, opts.CheckKnobs(cfg.AtStart()).Error()})
		case opts.CPUsAvailable > 0 && float64(cpus) > math.Ceil(opts.CPUsAvailable):
			skipped = append(skipped, Skipped{cfg, fmt.Sprintf("%s > %g CPUs available", why, opts.CPUsAvailable)})
		default:
			out = append(out, cfg)
		}
		seen[cfg.Key] = true
	}
	// The size of the grid, before building it.
	total := 0
	for _, g := range p.Grids {
		n := len(g.Models)
		for _, a := range p.axes(g) {
			if n = n * a.n; n > MaxConfigs {
				break
			}
		}
		if total += n; total > MaxConfigs {
			return nil, nil, fmt.Errorf("preset %s has more than %d configurations: split it, or use --models and --quick", p.Name, MaxConfigs)
		}
	}
	for _, g := range p.Grids {
		for _, m := range g.Models {
			if len(want) > 0 && !want[m] {
				continue
			}
			found[m] = true
			vision, int8 := knobsFor(m, g.Inputs)
			why := func(c Config) (int, string) { return c.Threads, fmt.Sprintf("%d threads", c.Threads) }
			if p.Mode == ModeLoad {
				why = func(c Config) (int, string) {
					return c.Instances * c.Threads, fmt.Sprintf("%d instances x %d threads", c.Instances, c.Threads)
				}
			}
			p.expand(g, m, func(cfg Config) {
				cpus, text := why(cfg)
				add(cfg, vision, int8, cpus, text)
			})
		}
	}
	for _, m := range opts.Models {
		if !found[m] {
			return nil, nil, fmt.Errorf("--models: %s is not in preset %s (it has %s)", m, p.Name, strings.Join(p.models(), ", "))
		}
	}
	return out, skipped, nil
}

// cross calls f with every combination of indexes into lists of the given lengths, in
// nested-loop order (the last index varies fastest).
func cross(lens []int, f func(ix []int)) {
	ix := make([]int, len(lens))
	for _, n := range lens {
		if n == 0 {
			return
		}
	}
	for {
		f(ix)
		k := len(ix) - 1
		for ; k >= 0; k-- {
			if ix[k]++; ix[k] < lens[k] {
				break
			}
			ix[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// axis is one dimension of a grid's product: a knob's values, or a serving setting's.
type axis struct {
	n   int
	set func(c *Config, i int)
}

// axes are the dimensions of grid g, the first varying slowest: knobs.Axes; in a load preset the batch size is the batcher's max batch,
// and the serving settings (instances, max delay, arrival, rate or one capacity search)
// come after the knobs set once a process runs and before those it starts with (AtStart).
func (p *Preset) axes(g Grid) []axis {
	var out, atStart []axis
	for _, kn := range knobs.Axes {
		vals := g.Values[kn.Name]
		a := axis{len(vals), func(c *Config, i int) { _ = kn.Set(&c.Knobs, vals[i]) }}
		switch {
		case p.Mode == ModeLoad && kn.Name == "batch_size":
			a = axis{len(g.MaxBatch), func(c *Config, i int) { c.BatchSize, c.Serving.MaxBatch = g.MaxBatch[i], g.MaxBatch[i] }}
		case p.Mode == ModeLoad && kn.Scope == knobs.AtStart:
			atStart = append(atStart, a)
			continue
		}
		out = append(out, a)
	}
	if p.Mode != ModeLoad {
		return out
	}
	rates := g.Rates
	if p.Load.FindCapacity {
		rates = []float64{0}
	}
	out = append(out,
		axis{len(g.Instances), func(c *Config, i int) { c.Instances = g.Instances[i] }},
		axis{len(g.MaxDelayMs), func(c *Config, i int) { c.MaxDelayMs = g.MaxDelayMs[i] }},
		axis{len(g.Arrival), func(c *Config, i int) { c.Arrival = g.Arrival[i] }},
		axis{len(rates), func(c *Config, i int) { c.OfferedRPS = rates[i] }})
	return append(out, atStart...)
}

// expand calls add with each of grid g's configurations of model m, in the order of its
// axes.
func (p *Preset) expand(g Grid, m string, add func(Config)) {
	axes := p.axes(g)
	lens := make([]int, len(axes))
	for i, a := range axes {
		lens[i] = a.n
	}
	cross(lens, func(ix []int) {
		c := Config{Knobs: knobs.Knobs{Model: m, Inputs: g.Inputs}}
		if p.Mode == ModeLoad {
			c.Serving = &knobs.Serving{}
			c.Mode, c.FindCapacity, c.LatencyPct, c.BudgetMs = ModeLoad, p.Load.FindCapacity, p.Load.LatencyPct, p.Load.BudgetMs
		}
		for i, a := range axes {
			a.set(&c, ix[i])
		}
		add(c)
	})
}

func (p *Preset) models() []string {
	var ms []string
	seen := map[string]bool{}
	for _, g := range p.Grids {
		for _, m := range g.Models {
			if !seen[m] {
				seen[m] = true
				ms = append(ms, m)
			}
		}
	}
	return ms
}

// knobsFor says whether channels_last and quantize apply to a model.
func knobsFor(name string, inputs []string) (vision, int8 bool) {
	if b, ok := model.LookupBuiltin(name); ok {
		return b.Task == model.Vision, b.Int8File != ""
	}
	for _, in := range inputs {
		if s, err := model.ParseInput(in); err == nil && s.IsFloat() && len(s.Dims) == 4 {
			return true, false
		}
	}
	return false, false
}

// MaxConfigs bounds the configurations (times repetitions) of one sweep: at a second
// each that is more than a day, and a larger grid is a typo or an attack.
const MaxConfigs = 100_000

// MakePlan expands the preset and orders the result: each repetition is one round over
// all configurations, shuffled with opts.Seed, so that machine drift does not favour a
// setting and repeats of one configuration are spread over the sweep.
func (p *Preset) MakePlan(opts PlanOptions) (*Plan, error) {
	cfgs, skipped, err := p.Expand(opts)
	if err != nil {
		return nil, err
	}
	if opts.Shards > 0 {
		if opts.Shard < 1 || opts.Shard > opts.Shards {
			return nil, fmt.Errorf("--shard %d/%d: want I/N with 1 <= I <= N", opts.Shard, opts.Shards)
		}
		// Bench presets shard by process-wide setting (WorkerKey: every model of it), so
		// that a shard keeps the configurations measured side by side together; with
		// fewer settings than shards, by configuration.
		setting := map[string]int{}
		for _, c := range cfgs {
			if _, ok := setting[c.WorkerKey()]; !ok {
				setting[c.WorkerKey()] = len(setting)
			}
		}
		bySetting := p.Mode != ModeLoad && len(setting) >= opts.Shards
		var mine []Config
		for i, c := range cfgs {
			if bySetting {
				i = setting[c.WorkerKey()]
			}
			if i%opts.Shards == opts.Shard-1 {
				mine = append(mine, c)
			}
		}
		cfgs = mine
	}
	repeat := max(1, opts.Repeat)
	if len(cfgs) > 0 && repeat > MaxConfigs/len(cfgs) {
		return nil, fmt.Errorf("--repeat %d x %d configurations is more than the %d runs a sweep plans: lower --repeat", repeat, len(cfgs), MaxConfigs)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	plan := &Plan{Skipped: skipped}
	for r := 1; r <= repeat; r++ {
		round := make([]Config, len(cfgs))
		copy(round, cfgs)
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		for i := range round {
			round[i].Repeat = r
		}
		plan.Configs = append(plan.Configs, round...)
	}
	return plan, nil
}

// ParseShard reads "I/N".
func ParseShard(s string) (shard, shards int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want I/N with 1 <= I <= N, e.g. 2/4", s)
	}
	return i, n, nil
}
