// Package sweep plans and runs preset sweeps: a preset (YAML) expands into configurations,
// each configuration runs as its own `perflab bench` child process (libtorch's thread pools
// are per process), and every finished configuration is appended to a JSONL file at once.
package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/limitfile"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/presets"
)

// Preset is a validated sweep definition. See docs/cli.md, "Presets", for the YAML schema.
type Preset struct {
	Name             string
	Description      string
	Quick            bool // the quick subset was applied
	Iters            int
	Warmup           int
	TargetPercentile string
	TargetCI         float64
	MaxSeconds       float64
	TimeoutSeconds   float64
	Grids            []Grid
	// GateConfigs selects the configurations an A/B gate tests per changed model file
	// (recommended, batch1, all); nil = the gate's default.
	GateConfigs []string

	// Mode is "bench" (each configuration a perflab bench) or "load" (each configuration
	// and offered rate a perflab load; see Load).
	Mode string
	Load LoadSettings
}

// Mode values.
const (
	ModeBench = "bench"
	ModeLoad  = "load"
)

// LoadSettings are the preset-level keys of a load preset.
type LoadSettings struct {
	DurationS    float64 // measured window of each run (each capacity-search step: at least)
	WarmupS      float64
	LatencyPct   string
	BudgetMs     float64 // 0 = none
	FindCapacity bool    // one capacity search per configuration instead of fixed rates
}

// Grid is one cartesian product of knob values; a preset's configurations are the union
// of its grids.
type Grid struct {
	Models []string
	Inputs []string // for TorchScript files in Models
	// Values are the values of each knob axis (knobs.Table rows with Axis, by Name), as
	// knobs.Knob.Text spells them ("" = unset: "default" in YAML), in one spelling so
	// that keys match records. A load grid has no batch_size (MaxBatch is the batch).
	Values map[string][]string

	// Load presets only.
	Instances  []int
	MaxBatch   []int
	MaxDelayMs []float64
	Rates      []float64
	Arrival    []string

	batchGiven bool // batch_size was given (an error in a load preset)
}

// The YAML document, decoded strictly. List-valued keys stay nodes so that errors can
// name their line.
type presetDoc struct {
	Name             string       `yaml:"name"`
	Description      string       `yaml:"description"`
	Iters            *strictInt   `yaml:"iters"`
	Warmup           *strictInt   `yaml:"warmup"`
	TargetPercentile *string      `yaml:"target_percentile"`
	TargetCI         *finiteFloat `yaml:"target_ci"`
	MaxSeconds       *finiteFloat `yaml:"max_seconds"`
	TimeoutSeconds   *finiteFloat `yaml:"timeout_seconds"`
	Grid             *gridDoc     `yaml:"grid"`
	Grids            []gridDoc    `yaml:"grids"`
	Quick            *presetDoc   `yaml:"quick"`
	GateConfigs      []string     `yaml:"gate_configs"`

	Mode            *string      `yaml:"mode"`
	DurationS       *finiteFloat `yaml:"duration_s"`
	WarmupS         *finiteFloat `yaml:"warmup_s"`
	LatencyPct      *string      `yaml:"latency_pct"`
	LatencyBudgetMs *finiteFloat `yaml:"latency_budget_ms"`
	FindCapacity    *bool        `yaml:"find_capacity"`
}

type gridDoc struct {
	Models     yaml.Node `yaml:"models"`
	Inputs     yaml.Node `yaml:"inputs"`
	Instances  yaml.Node `yaml:"instances"`
	MaxBatch   yaml.Node `yaml:"max_batch"`
	MaxDelayMs yaml.Node `yaml:"max_delay_ms"`
	Rates      yaml.Node `yaml:"rates"`
	Arrival    yaml.Node `yaml:"arrival"`
	// Knobs are the knob axes' keys (knobs.Table's Preset), by key.
	Knobs map[string]*yaml.Node `yaml:"-"`
}

// UnmarshalYAML decodes a grid strictly: its own keys, and each knob axis of knobs.Table.
func (d *gridDoc) UnmarshalYAML(n *yaml.Node) error {
	type plain gridDoc
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode { // as the decoder says it
		v := ""
		if n.Kind == yaml.ScalarNode {
			v = " `" + n.Value + "`"
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s%s into sweep.gridDoc", n.Line, n.ShortTag(), v)}}
	}
	own := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
	d.Knobs = map[string]*yaml.Node{}
	var unknown []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch kn := gridAxis(k.Value); {
		case kn != nil:
			d.Knobs[kn.Preset] = v
		case slices.Contains(gridKeys, k.Value):
			own.Content = append(own.Content, k, v)
		default: // as the strict decoder says it (Parse rewrites it)
			unknown = append(unknown, fmt.Sprintf("line %d: field %s not found in type sweep.gridDoc", k.Line, k.Value))
		}
	}
	if err := own.Decode((*plain)(d)); err != nil {
		return err
	}
	if unknown != nil {
		return &yaml.TypeError{Errors: unknown}
	}
	return nil
}

// gridKeys are a grid's keys besides the knob axes.
var gridKeys = []string{"models", "inputs", "instances", "max_batch", "max_delay_ms", "rates", "arrival"}

// gridAxis returns the knob axis with this preset key, or nil.
func gridAxis(key string) *knobs.Knob {
	for _, kn := range knobs.Axes {
		if kn.Preset == key {
			return kn
		}
	}
	return nil
}

// Load reads a built-in preset by name, or a preset file by path, and applies its quick
// subset when quick is set.
func Load(nameOrPath string, quick bool) (*Preset, error) {
	if data, ok := presets.Get(nameOrPath); ok {
		return Parse(nameOrPath, data, quick)
	}
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		return nil, fmt.Errorf("unknown preset %q: use a built-in (%s) or a path to a preset YAML file", nameOrPath, strings.Join(presets.Names(), ", "))
	}
	data, err := limitfile.Read(nameOrPath, 16<<20)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("preset file %s does not exist: check the path (built-ins are %s)", nameOrPath, strings.Join(presets.Names(), ", "))
		}
		return nil, fmt.Errorf("read preset %s: %w", nameOrPath, err)
	}
	return Parse(nameOrPath, data, quick)
}

var yamlLineRE = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// Parse validates a preset document. source names it in errors.
func Parse(source string, data []byte, quick bool) (*Preset, error) {
	var doc presetDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("preset %s is empty: a preset needs at least a \"name\" and a \"grid\" with \"models\" (see presets/ for examples)", source)
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
		msg = yamlLineRE.ReplaceAllString(msg, `line $1: unknown key "$2"`)
		return nil, fmt.Errorf("preset %s: %s", source, strings.ReplaceAll(msg, "\n  ", "; "))
	}
	p := &Preset{Name: doc.Name, Description: doc.Description, Iters: 200, Warmup: 20, TargetPercentile: "p95", TimeoutSeconds: 600,
		Mode: ModeBench, Load: LoadSettings{DurationS: 10, WarmupS: 1, LatencyPct: "p95"}}
	if p.Name == "" {
		return nil, fmt.Errorf("preset %s: missing \"name\"", source)
	}
	if doc.Mode != nil {
		switch *doc.Mode {
		case ModeBench, ModeLoad:
			p.Mode = *doc.Mode
		default:
			return nil, fmt.Errorf("preset %s: mode: unknown value %q (want bench or load)", source, *doc.Mode)
		}
	}
	if doc.Quick != nil && doc.Quick.Mode != nil {
		return nil, fmt.Errorf("preset %s: quick may not change \"mode\"", source)
	}
	if err := p.apply(source, &doc); err != nil {
		return nil, err
	}
	if quick {
		if doc.Quick == nil {
			return nil, fmt.Errorf("preset %s has no quick subset: drop --quick or add a \"quick:\" section", source)
		}
		if doc.Quick.Quick != nil || doc.Quick.Name != "" {
			return nil, fmt.Errorf("preset %s: quick may not hold \"quick\" or \"name\"", source)
		}
		p.Quick = true
		if err := p.apply(source, doc.Quick); err != nil {
			return nil, err
		}
	}
	if len(p.Grids) == 0 {
		return nil, fmt.Errorf("preset %s: no \"grid\" (or \"grids\") to sweep", source)
	}
	if err := p.checkMode(source); err != nil {
		return nil, err
	}
	return p, nil
}

// checkMode checks the keys that belong to one mode and fills the load grids' defaults.
func (p *Preset) checkMode(source string) error {
	bad := func(why string) error { return fmt.Errorf("preset %s: %s", source, why) }
	if p.Mode == ModeBench {
		for _, g := range p.Grids {
			if g.Instances != nil || g.MaxBatch != nil || g.MaxDelayMs != nil || g.Rates != nil || g.Arrival != nil {
				return bad("instances, max_batch, max_delay_ms, rates and arrival are for load presets: add \"mode: load\"")
			}
		}
		return nil
	}
	l := p.Load
	if l.FindCapacity && l.BudgetMs == 0 {
		return bad("find_capacity needs latency_budget_ms")
	}
	for i := range p.Grids {
		g := &p.Grids[i]
		switch {
		case g.batchGiven:
			return bad("batch_size is not a load key: use max_batch (the batcher's largest batch)")
		case l.FindCapacity && g.Rates != nil:
			return bad("give rates or find_capacity, not both")
		case !l.FindCapacity && g.Rates == nil:
			return bad("a load grid needs rates (requests per second), or find_capacity: true")
		}
		if g.Instances == nil {
			g.Instances = []int{1}
		}
		if g.MaxBatch == nil {
			g.MaxBatch = []int{1}
		}
		if g.MaxDelayMs == nil {
			g.MaxDelayMs = []float64{0}
		}
		if g.Arrival == nil {
			g.Arrival = []string{"poisson"}
		}
		delete(g.Values, "batch_size")
		for _, r := range g.Rates {
			if err := load.CheckDuration(r, time.Duration(l.DurationS*float64(time.Second)), l.LatencyPct); err != nil {
				return bad(fmt.Sprintf("rate %g: %s (duration_s)", r, strings.TrimPrefix(err.Error(), "duration too short: ")))
			}
		}
	}
	return nil
}

// apply sets every key doc gives, validating values.
func (p *Preset) apply(source string, doc *presetDoc) error {
	bad := func(key, why string) error { return fmt.Errorf("preset %s: %s: %s", source, key, why) }
	if doc.Description != "" {
		p.Description = doc.Description
	}
	if doc.GateConfigs != nil {
		for _, g := range doc.GateConfigs {
			switch g {
			case "recommended", "batch1", "all":
			default:
				return bad("gate_configs", fmt.Sprintf("unknown value %q (want some of recommended, batch1, all)", g))
			}
		}
		p.GateConfigs = doc.GateConfigs
	}
	if doc.Iters != nil {
		if *doc.Iters < 1 {
			return bad("iters", "must be >= 1")
		}
		p.Iters = int(*doc.Iters)
	}
	if doc.Warmup != nil {
		if *doc.Warmup < 0 {
			return bad("warmup", "must be >= 0")
		}
		p.Warmup = int(*doc.Warmup)
	}
	if doc.TargetPercentile != nil {
		if _, ok := stats.PercentileQ(*doc.TargetPercentile); !ok {
			return bad("target_percentile", fmt.Sprintf("unknown value %q (want p50, p90, p95 or p99)", *doc.TargetPercentile))
		}
		p.TargetPercentile = *doc.TargetPercentile
	}
	for _, f := range []struct {
		key string
		v   *float64
		dst *float64
	}{{"target_ci", (*float64)(doc.TargetCI), &p.TargetCI}, {"max_seconds", (*float64)(doc.MaxSeconds), &p.MaxSeconds}, {"timeout_seconds", (*float64)(doc.TimeoutSeconds), &p.TimeoutSeconds}} {
		if f.v != nil {
			if *f.v < 0 {
				return bad(f.key, "must be >= 0")
			}
			*f.dst = *f.v
		}
	}
	for _, f := range []struct {
		key string
		v   *float64
		dst *float64
		pos bool
	}{{"duration_s", (*float64)(doc.DurationS), &p.Load.DurationS, true}, {"warmup_s", (*float64)(doc.WarmupS), &p.Load.WarmupS, false}, {"latency_budget_ms", (*float64)(doc.LatencyBudgetMs), &p.Load.BudgetMs, false}} {
		if f.v != nil {
			if *f.v < 0 || (f.pos && *f.v == 0) {
				return bad(f.key, "must be > 0")
			}
			*f.dst = *f.v
		}
	}
	if doc.LatencyPct != nil {
		if _, ok := stats.PercentileQ(*doc.LatencyPct); !ok {
			return bad("latency_pct", fmt.Sprintf("unknown value %q (want p50, p90, p95 or p99)", *doc.LatencyPct))
		}
		p.Load.LatencyPct = *doc.LatencyPct
	}
	if doc.FindCapacity != nil {
		p.Load.FindCapacity = *doc.FindCapacity
	}
	if doc.Grid != nil && len(doc.Grids) > 0 {
		return bad("grid", `give either "grid" or "grids", not both`)
	}
	gds := doc.Grids
	if doc.Grid != nil {
		gds = []gridDoc{*doc.Grid}
	}
	if len(gds) > 0 {
		p.Grids = nil
		for i := range gds {
			g, err := parseGrid(source, &gds[i])
			if err != nil {
				return err
			}
			p.Grids = append(p.Grids, g)
		}
	}
	return nil
}

func parseGrid(source string, d *gridDoc) (Grid, error) {
	var g Grid
	var err error
	if g.Models, err = strings_(source, "models", &d.Models, nil); err != nil {
		return g, err
	}
	if len(g.Models) == 0 {
		return g, fmt.Errorf("preset %s: grid needs \"models\"", source)
	}
	if g.Inputs, err = strings_(source, "inputs", &d.Inputs, nil); err != nil {
		return g, err
	}
	g.Values = map[string][]string{}
	for _, kn := range knobs.Axes {
		n := d.Knobs[kn.Preset]
		if n == nil {
			n = &yaml.Node{}
		}
		its, err := items(source, kn.Preset, n)
		if err != nil {
			return g, err
		}
		if its == nil {
			for _, v := range kn.GridDefault {
				t, _ := kn.PresetValue(v)
				g.Values[kn.Name] = append(g.Values[kn.Name], t)
			}
			continue
		}
		vals := make([]string, len(its))
		for j, it := range its {
			v, err := kn.PresetValue(it.Value)
			if err == nil && kn.Kind == knobs.Int && it.ShortTag() == "!!float" {
				_, err = kn.PresetValue("not an integer")
			}
			if err != nil {
				// The error names the value as written.
				return g, fmt.Errorf("preset %s: line %d: %s", source, it.Line, strings.Replace(err.Error(), `"not an integer"`, strconv.Quote(it.Value), 1))
			}
			vals[j] = v
		}
		g.Values[kn.Name] = vals
	}
	g.batchGiven = d.Knobs["batch_size"] != nil && d.Knobs["batch_size"].Kind != 0
	if g.Instances, err = ints(source, "instances", &d.Instances, nil, 1); err != nil {
		return g, err
	}
	if g.MaxBatch, err = ints(source, "max_batch", &d.MaxBatch, nil, 1); err != nil {
		return g, err
	}
	if g.MaxDelayMs, err = floats(source, "max_delay_ms", &d.MaxDelayMs, false); err != nil {
		return g, err
	}
	if g.Rates, err = floats(source, "rates", &d.Rates, true); err != nil {
		return g, err
	}
	if g.Arrival, err = strings_(source, "arrival", &d.Arrival, nil); err != nil {
		return g, err
	}
	for i, a := range g.Arrival {
		if !slices.Contains(knobs.Arrivals, a) {
			return g, fmt.Errorf("preset %s: line %d: arrival: unknown value %q (want poisson or constant)", source, itemLine(&d.Arrival, i), a)
		}
	}
	return g, nil
}

func checkIn(v string, valid []string) error {
	if !slices.Contains(valid, v) {
		return fmt.Errorf("unknown value %q", v)
	}
	return nil
}

// floats reads a list of numbers >= 0 (> 0 with positive); absent gives nil.
func floats(source, key string, n *yaml.Node, positive bool) ([]float64, error) {
	its, err := items(source, key, n)
	if err != nil || its == nil {
		return nil, err
	}
	out := make([]float64, len(its))
	for i, it := range its {
		v, err := strconv.ParseFloat(it.Value, 64)
		if err != nil || v < 0 || (positive && v == 0) || math.IsInf(v, 0) || math.IsNaN(v) {
			want := "a number >= 0"
			if positive {
				want = "a number > 0"
			}
			return nil, fmt.Errorf("preset %s: line %d: %s: unknown value %q (want %s)", source, it.Line, key, it.Value, want)
		}
		out[i] = v
	}
	return out, nil
}

// strictInt is an integer key that refuses anything YAML does not read as an integer
// (20.5, !!float 20, "20").
type strictInt int

func (v *strictInt) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || err != nil {
		return fmt.Errorf("line %d: want an integer, got %q", n.Line, n.Value)
	}
	if i > maxPresetInt || i < -maxPresetInt {
		return fmt.Errorf("line %d: %d is out of range (at most %d)", n.Line, i, maxPresetInt)
	}
	*v = strictInt(i)
	return nil
}

// maxPresetInt and maxPresetFloat bound a preset's numbers: a value beyond them is a typo
// or a hostile preset (a pull request's), never a measurement plan (10^7 iterations of the
// fastest model already take minutes; 10^7 seconds are four months).
const (
	maxPresetInt   = 10_000_000
	maxPresetFloat = 1e7
)

// finiteFloat is a number key that refuses NaN, infinities and values beyond
// maxPresetFloat, naming the YAML line.
type finiteFloat float64

func (v *finiteFloat) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	var f float64
	if n.Kind != yaml.ScalarNode || n.Decode(&f) != nil {
		return fmt.Errorf("line %d: want a number, got %q", n.Line, n.Value)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("line %d: want a finite number, got %q", n.Line, n.Value)
	}
	if math.Abs(f) > maxPresetFloat {
		return fmt.Errorf("line %d: %s is out of range (at most %g)", n.Line, n.Value, maxPresetFloat)
	}
	*v = finiteFloat(f)
	return nil
}

// items returns a list node's items; a single scalar counts as a one-item list. Aliases
// (*name) are followed, for the list and for its items.
func items(source, key string, n *yaml.Node) ([]*yaml.Node, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		return []*yaml.Node{n}, nil
	case yaml.SequenceNode:
		content := make([]*yaml.Node, len(n.Content))
		for i, it := range n.Content {
			if it.Kind == yaml.AliasNode && it.Alias != nil {
				it = it.Alias
			}
			content[i] = it
			if it.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("preset %s: line %d: %s: items must be plain values", source, it.Line, key)
			}
		}
		if len(n.Content) == 0 {
			return nil, fmt.Errorf("preset %s: line %d: %s: empty list", source, n.Line, key)
		}
		return content, nil
	}
	return nil, fmt.Errorf("preset %s: line %d: %s: want a list, e.g. [1, 2]", source, n.Line, key)
}

func itemLine(n *yaml.Node, i int) int {
	if n.Kind == yaml.SequenceNode && i < len(n.Content) {
		return n.Content[i].Line
	}
	return n.Line
}

func strings_(source, key string, n *yaml.Node, def []string) ([]string, error) {
	its, err := items(source, key, n)
	if err != nil || its == nil {
		return def, err
	}
	out := make([]string, len(its))
	for i, it := range its {
		out[i] = it.Value
	}
	return out, nil
}

func ints(source, key string, n *yaml.Node, def []int, minimum int) ([]int, error) {
	its, err := items(source, key, n)
	if err != nil || its == nil {
		return def, err
	}
	out := make([]int, len(its))
	for i, it := range its {
		v, err := strconv.Atoi(it.Value)
		if err != nil || v < minimum || it.ShortTag() == "!!float" {
			return nil, fmt.Errorf("preset %s: line %d: %s: unknown value %q (want an integer >= %d)", source, it.Line, key, it.Value, minimum)
		}
		if most := maxListInt(key); v > most {
			return nil, fmt.Errorf("preset %s: line %d: %s: %d is out of range (at most %d)", source, it.Line, key, v, most)
		}
		out[i] = v
	}
	return out, nil
}

// maxListInt is the largest value a preset's integer list key takes: batches and
// instances beyond these exhaust memory rather than measure anything.
func maxListInt(key string) int {
	switch key {
	case "batch_size", "max_batch":
		return 65536
	case "instances":
		return 1024
	}
	return maxPresetInt
}
