package gate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/record"
)

// Overall verdicts.
const (
	Pass           = "pass"
	Failed         = Regression // at least one regression
	NoBaseline     = "no baseline"
	NotConclusive  = "inconclusive"
	noBaselineHint = "no baseline: run `perflab baseline update` on the main branch"
)

// Input is what the gate compares.
type Input struct {
	Results          []*record.Record
	Baseline         *baseline.File // nil: no baseline yet
	BaselinePath     string
	Metrics          []string
	Options          Options
	AllowEnvMismatch bool
}

// Report is the gate's verdict with every number behind it.
type Report struct {
	Verdict        string            `json:"verdict"`
	Summary        string            `json:"summary"`
	Regressions    int               `json:"regressions"`
	Improvements   int               `json:"improvements"`
	Inconclusive   int               `json:"inconclusive"`
	Alpha          float64           `json:"alpha"`
	Threshold      float64           `json:"threshold"`
	Metrics        []string          `json:"metrics"`
	Baseline       *BaselineInfo     `json:"baseline,omitempty"`
	Fingerprint    string            `json:"fingerprint,omitempty"` // of the current results
	Comparisons    []Comparison      `json:"comparisons"`
	Notes          []string          `json:"notes,omitempty"`
	FailedConfigs  []FailedConfig    `json:"failed_configs,omitempty"`
	Broken         int               `json:"broken"`                   // failed configurations the baseline had measured
	MinDetectable  float64           `json:"min_detectable,omitempty"` // median over the inconclusive comparisons (else all)
	OnlyInResults  []string          `json:"only_in_results,omitempty"`
	OnlyInBaseline []string          `json:"only_in_baseline,omitempty"`
	ConfigNotes    map[string]string `json:"config_notes,omitempty"` // per key: model file changed, env mismatch
	// Informational comparisons are shown but do not count in the verdict (stored-baseline
	// comparisons of a model file unchanged since the base).
	Informational []Comparison `json:"informational,omitempty"`
	// Deciding, when set, is what decided the verdict in one line (a model that does not
	// load); otherwise Headline finds it among the comparisons.
	Deciding string `json:"deciding,omitempty"`
	// DecidingShort is Deciding for the first line, quoting no name a pull request chose.
	DecidingShort string `json:"deciding_short,omitempty"`
	// Attributions: where the time of regressed A/B comparisons went (attribution.go).
	Attributions []Attribution `json:"attributions,omitempty"`
}

// BaselineInfo says which baseline was used.
type BaselineInfo struct {
	Path         string   `json:"path"`
	Source       string   `json:"source,omitempty"` // e.g. "contents API at base sha abc123" or "workspace file"
	Commits      []string `json:"commits,omitempty"`
	Fingerprints []string `json:"fingerprints,omitempty"`
	Env          string   `json:"env,omitempty"` // human description of the newest run's environment
	FirstDate    string   `json:"first_date,omitempty"`
	LastDate     string   `json:"last_date,omitempty"`
}

// FailedConfig is a configuration that could not be compared because it failed.
type FailedConfig struct {
	Key           string `json:"key"`
	Reason        string `json:"reason"`
	WasInBaseline bool   `json:"was_in_baseline"` // it worked in the baseline: counts as a regression
}

// Check compares results with the baseline.
func Check(in Input) *Report {
	rep := &Report{Alpha: in.Options.Alpha, Threshold: in.Options.Threshold, Metrics: in.Metrics, ConfigNotes: map[string]string{}, Comparisons: []Comparison{}}
	current := map[string][]*record.Record{}
	var keys []string
	fps := map[string]bool{}
	for _, r := range in.Results {
		key := r.Key()
		switch {
		case !r.OK():
			rep.FailedConfigs = append(rep.FailedConfigs, FailedConfig{Key: key, Reason: "failed: " + r.Error})
			continue
		case !r.Usable():
			rep.FailedConfigs = append(rep.FailedConfigs, FailedConfig{Key: key, Reason: "outputs differ from the plain model beyond tolerance"})
			continue
		}
		if _, ok := current[key]; !ok {
			keys = append(keys, key)
		}
		current[key] = append(current[key], r)
		if r.Env != nil {
			fps[r.Env.Fingerprint] = true
			rep.Fingerprint = r.Env.Fingerprint
		}
	}
	sort.Strings(keys)
	if len(fps) > 1 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the results mix %d environment fingerprints; each configuration is compared with baseline runs of its own", len(fps)))
	}
	if in.Baseline == nil {
		rep.Verdict = NoBaseline
		rep.Summary = noBaselineHint + fmt.Sprintf(" (%d configurations measured, nothing compared)", len(keys))
		rep.OnlyInResults = keys
		return rep
	}
	rep.Baseline = describeBaseline(in.BaselinePath, in.Baseline)

	// Pair each configuration with its comparable baseline runs.
	type pair struct {
		key       string
		fp        string // "" = every run of every entry is comparable
		cur, base []Run
	}
	var pairs []pair
	inResults := map[string]bool{}
	for _, key := range keys {
		inResults[key] = true
		e := in.Baseline.Lookup(key)
		if e == nil || len(e.Runs) == 0 {
			rep.OnlyInResults = append(rep.OnlyInResults, key)
			continue
		}
		cur := current[key]
		fp := ""
		var curEnv *record.Env
		for _, r := range cur {
			if r.Env != nil {
				fp, curEnv = r.Env.Fingerprint, r.Env
			}
		}
		base := e.Runs
		var notes []string
		switch {
		case fp == "":
			notes = append(notes, "the results carry no environment fingerprint: comparability with the baseline is unknown")
		case !in.AllowEnvMismatch:
			var same []baseline.Run
			for _, r := range base {
				// Another libtorch (or build of it) is another environment, as another CPU is.
				if r.Fingerprint == fp && env.RuntimeChange(runEnv(r), curEnv) == "" {
					same = append(same, r)
				}
			}
			if len(same) == 0 {
				last := base[len(base)-1]
				if change := env.RuntimeChange(runEnv(last), curEnv); change != "" {
					rep.ConfigNotes[key] = change + " since the baseline: not compared (as on another CPU), use --allow-env-mismatch to compare anyway"
					for _, m := range in.Metrics {
						rep.Comparisons = append(rep.Comparisons, Comparison{Key: key, Metric: m, Verdict: Inconclusive, Reason: change})
					}
					continue
				}
				rep.ConfigNotes[key] = fmt.Sprintf("baseline measured on another environment (fingerprint %s: %s, %g CPUs, libtorch %s, %s; now %s): not compared, use --allow-env-mismatch to compare anyway",
					last.Fingerprint, last.CPUModel, last.CPUsAvailable, last.Torch, last.BLAS, fp)
				for _, m := range in.Metrics {
					rep.Comparisons = append(rep.Comparisons, Comparison{Key: key, Metric: m, Verdict: Inconclusive, Reason: "environment differs from the baseline's"})
				}
				continue
			}
			if len(same) < len(base) {
				notes = append(notes, fmt.Sprintf("%d of %d baseline runs were on another environment and are left out", len(base)-len(same), len(base)))
			}
			base = same
		default:
			for _, r := range base {
				if r.Fingerprint != fp {
					notes = append(notes, "compared with runs from another environment (--allow-env-mismatch)")
					break
				}
			}
		}
		if sha, last := cur[0].ModelSHA256, base[len(base)-1].ModelSHA256; sha != "" && last != "" && sha != last {
			notes = append(notes, fmt.Sprintf("model file changed since the baseline (sha256 %.12s -> %.12s)", last, sha))
		}
		if len(notes) > 0 {
			rep.ConfigNotes[key] = strings.Join(notes, "; ")
		}
		p := pair{key: key, fp: fp}
		if in.AllowEnvMismatch {
			p.fp = ""
		}
		for _, r := range cur {
			run := Run{SamplesMs: r.SamplesMs, ThroughputRPS: r.ThroughputRPS}
			if r.Env != nil {
				run.OtherCPUs = r.Env.OtherCPUs
			}
			if ref := r.Reference; ref != nil {
				run.Reference = &Reference{Ms: ref.Ms, LogSE: ref.LogSE, Workload: ref.Workload}
			}
			p.cur = append(p.cur, run)
		}
		for _, r := range base {
			p.base = append(p.base, baselineRun(r))
		}
		pairs = append(pairs, p)
	}
	// Between-run noise: pooled over every entry of the baseline (not only the ones
	// measured now), with the runs of the same fingerprint.
	// A drift-corrected comparison (both sides carry the reference workload) takes the
	// spread of corrected values.
	type poolKey struct {
		fp        string
		corrected bool
	}
	pools := map[poolKey]map[string]Pool{} // -> metric -> pool
	for _, p := range pairs {
		k := poolKey{p.fp, workload(p.cur, p.base) != ""}
		if pools[k] != nil {
			continue
		}
		hist := ComparableHistories(in.Baseline, p.fp)
		pools[k] = map[string]Pool{}
		for _, m := range in.Metrics {
			pools[k][m] = PoolBetween(hist, m, k.corrected)
		}
	}
	for _, m := range in.Metrics {
		for _, p := range pairs {
			rep.Comparisons = append(rep.Comparisons, Compare(p.key, m, p.cur, p.base, pools[poolKey{p.fp, workload(p.cur, p.base) != ""}][m]))
		}
	}
	sides := make([][2][]Run, len(pairs))
	for i, p := range pairs {
		sides[i] = [2][]Run{p.cur, p.base}
	}
	rep.Notes = append(rep.Notes, driftNotes(sides)...)
	sort.SliceStable(rep.Comparisons, func(i, j int) bool { return rep.Comparisons[i].Key < rep.Comparisons[j].Key })
	// A configuration the baseline measured that now fails is a regression in itself.
	for i, f := range rep.FailedConfigs {
		if e := in.Baseline.Lookup(f.Key); e != nil && len(e.Runs) > 0 {
			rep.FailedConfigs[i].WasInBaseline = true
			rep.Broken++
		}
	}
	for _, e := range in.Baseline.Entries {
		if !inResults[e.Key] && !failedKey(rep.FailedConfigs, e.Key) {
			rep.OnlyInBaseline = append(rep.OnlyInBaseline, e.Key)
		}
	}
	Decide(rep.Comparisons, in.Options)
	rep.finish()
	return rep
}

// runEnv is the part of a record's env a baseline run keeps about its runtime.
func runEnv(r baseline.Run) *record.Env {
	return &record.Env{Torch: r.Torch, OneDNN: r.OneDNN, TEFuser: r.TEFuser, CXX11ABI: r.CXX11ABI}
}

// baselineRun is a stored run as a gate run, its reference workload timing included.
func baselineRun(r baseline.Run) Run {
	run := Run{SamplesMs: r.SamplesMs, ThroughputRPS: r.ThroughputRPS, OtherCPUs: r.OtherCPUs}
	if r.ReferenceMs > 0 {
		run.Reference = &Reference{Ms: r.ReferenceMs, LogSE: r.ReferenceLogSE, Workload: r.ReferenceWorkload}
	}
	return run
}

// driftNotes says, in one line each, the machine-speed factor the stored-baseline
// comparisons divided out (the median over configurations when they differ), or that
// they could not because a side lacks the reference workload.
func driftNotes(sides [][2][]Run) []string {
	var factors []float64
	var noCur, noBase, differ int
	for _, s := range sides {
		cur, base := s[0], s[1]
		switch {
		case workload(cur, base) != "":
			f, _ := referenceRatio(cur, base)
			factors = append(factors, f)
		case workload(cur) == "":
			noCur++
		case workload(base) == "":
			noBase++
		default:
			differ++
		}
	}
	var notes []string
	if len(factors) > 0 {
		sort.Float64s(factors)
		f := factors[len(factors)/2]
		how := fmt.Sprintf("%.2fx slower than", f)
		if f < 1 {
			how = fmt.Sprintf("%.2fx faster than", 1/f)
		}
		if math.Abs(math.Log(f)) < 0.005 {
			how = "as fast as"
		}
		of := ""
		if len(factors) > 1 {
			of = fmt.Sprintf(" (median of %d configurations)", len(factors))
		}
		notes = append(notes, fmt.Sprintf("machine speed: this run ran perflab's reference workload %s the baseline's runs%s: ratios corrected by that factor", how, of))
	}
	some := func(n int) string {
		if n == len(sides) {
			return "ratios not corrected for machine speed"
		}
		return fmt.Sprintf("%d of %d configurations not corrected for machine speed", n, len(sides))
	}
	switch {
	case noBase > 0:
		notes = append(notes, some(noBase)+": the baseline's runs carry no reference workload timing (refresh the baseline with this perflab), so a drift of the machine counts as a change")
	case noCur > 0:
		notes = append(notes, some(noCur)+": these results carry no reference workload timing, so a drift of the machine counts as a change")
	case differ > 0:
		notes = append(notes, some(differ)+": the baseline timed another reference workload (another perflab version), so a drift of the machine counts as a change")
	}
	return notes
}

// ComparableHistories returns, for every entry of the baseline, its runs measured on
// fingerprint fp ("" = all runs), as gate runs.
func ComparableHistories(f *baseline.File, fp string) [][]Run {
	var out [][]Run
	for _, e := range f.Entries {
		var runs []Run
		for _, r := range e.Runs {
			if fp == "" || r.Fingerprint == fp {
				runs = append(runs, baselineRun(r))
			}
		}
		if len(runs) > 0 {
			out = append(out, runs)
		}
	}
	return out
}

func failedKey(fs []FailedConfig, key string) bool {
	for _, f := range fs {
		if f.Key == key {
			return true
		}
	}
	return false
}

// finish counts verdicts and sets the overall verdict and summary: regression when a
// comparison regressed (or a configuration the baseline measured now fails), pass only
// when every comparison is conclusive, otherwise inconclusive — never pass for a gate
// that compared nothing.
func (rep *Report) finish() {
	rep.Regressions, rep.Improvements, rep.Inconclusive, rep.MinDetectable = 0, 0, 0, 0
	var mde []float64
	for _, c := range rep.Comparisons {
		switch c.Verdict {
		case Regression:
			rep.Regressions++
		case Improvement:
			rep.Improvements++
		case Inconclusive:
			rep.Inconclusive++
			if c.MinDetectable > 0 {
				mde = append(mde, c.MinDetectable)
			}
		}
	}
	if len(mde) == 0 {
		for _, c := range rep.Comparisons {
			if c.MinDetectable > 0 {
				mde = append(mde, c.MinDetectable)
			}
		}
	}
	if len(mde) > 0 {
		sort.Float64s(mde)
		rep.MinDetectable = mde[len(mde)/2]
	}
	n := len(rep.Comparisons)
	switch {
	case rep.Regressions > 0 || rep.Broken > 0:
		rep.Verdict = Failed
		var parts []string
		if rep.Regressions > 0 {
			parts = append(parts, fmt.Sprintf("%d regression(s) in %d comparisons", rep.Regressions, n))
		}
		if rep.Broken > 0 {
			parts = append(parts, fmt.Sprintf("%d configuration(s) that the baseline measured now fail", rep.Broken))
		}
		rep.Summary = strings.Join(parts, "; ")
		if rep.Inconclusive > 0 {
			rep.Summary += fmt.Sprintf(" (%d inconclusive)", rep.Inconclusive)
		}
	case n == 0:
		rep.Verdict = NotConclusive
		rep.Summary = "nothing compared"
		if len(rep.OnlyInResults) > 0 {
			rep.Summary += fmt.Sprintf(": none of the %d configurations measured is in the baseline", len(rep.OnlyInResults))
		}
	case rep.Inconclusive > 0:
		rep.Verdict = NotConclusive
		rep.Summary = fmt.Sprintf("%d of %d comparisons inconclusive, no regression found", rep.Inconclusive, n)
		if k := rep.unconfirmed(); k > 0 {
			rep.Summary = fmt.Sprintf("%d of %d comparisons inconclusive: %d beyond the threshold at the first look, not confirmed by a second", rep.Inconclusive, n, k)
		}
		if rep.MinDetectable > 0 {
			rep.Summary += fmt.Sprintf("; the smallest change they could flag is ~%s", Pct(rep.MinDetectable))
		}
		if need := rep.roundsNeeded(); need > 0 {
			rep.Summary += fmt.Sprintf("; about %d rounds would decide", need)
		}
	default:
		rep.Verdict = Pass
		rep.Summary = fmt.Sprintf("no regression in %d comparisons, all conclusive", n)
	}
	if rep.Improvements > 0 {
		rep.Summary += fmt.Sprintf(", %d improvement(s)", rep.Improvements)
	}
	if k := len(rep.FailedConfigs) - rep.Broken; k > 0 {
		rep.Summary += fmt.Sprintf(", %d failed configuration(s) not compared", k)
	}
}

// unconfirmed counts the comparisons whose regression was seen at a first look only.
func (rep *Report) unconfirmed() int {
	k := 0
	for _, c := range rep.Comparisons {
		if c.Verdict == Inconclusive && strings.Contains(c.Reason, "not confirmed: a regression needs a second look") {
			k++
		}
	}
	return k
}

// roundsNeeded is the largest RoundsNeeded of the inconclusive A/B comparisons (0: none).
func (rep *Report) roundsNeeded() int {
	need := 0
	for _, c := range rep.Comparisons {
		if c.Verdict == Inconclusive && c.RoundsNeeded > c.Rounds {
			need = max(need, c.RoundsNeeded)
		}
	}
	return need
}

func describeBaseline(path string, f *baseline.File) *BaselineInfo {
	bi := &BaselineInfo{Path: path}
	commits, fps := map[string]bool{}, map[string]bool{}
	for _, e := range f.Entries {
		for _, r := range e.Runs {
			if r.Commit != "" && !commits[r.Commit] {
				commits[r.Commit] = true
				bi.Commits = append(bi.Commits, r.Commit)
			}
			if !fps[r.Fingerprint] {
				fps[r.Fingerprint] = true
				bi.Fingerprints = append(bi.Fingerprints, r.Fingerprint)
			}
			if bi.FirstDate == "" || r.Date < bi.FirstDate {
				bi.FirstDate = r.Date
			}
			if r.Date > bi.LastDate {
				bi.LastDate = r.Date
				bi.Env = fmt.Sprintf("%s, %g CPUs, libtorch %s, %s", r.CPUModel, r.CPUsAvailable, r.Torch, r.BLAS)
			}
		}
	}
	return bi
}

// ParseMetrics reads a comma-separated metric list.
func ParseMetrics(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultMetrics, nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		ok := false
		for _, k := range Metrics {
			ok = ok || k == m
		}
		if !ok {
			return nil, fmt.Errorf("--metrics: unknown metric %q (want some of %s)", m, strings.Join(Metrics, ", "))
		}
		out = append(out, m)
	}
	return out, nil
}

// ParseThreshold reads a slowdown threshold, "5%" or "0.05": a fraction in [0, 1). NaN,
// Inf, negative and 100% or more are refused (with a NaN threshold nothing would ever be a
// regression). Its error names the value, not the flag or input.
func ParseThreshold(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a percentage like 5%% or a fraction like 0.05", s)
	}
	if pct {
		v /= 100
	}
	if !(v >= 0 && v < 1) {
		return 0, fmt.Errorf("%q: want between 0%% and 100%%", s)
	}
	return v, nil
}

// CheckAB compares B with A measured in interleaved rounds (a[r] and b[r] back to back).
func CheckAB(key string, a, b []Run, metrics []string, opts Options) *Report {
	rep := &Report{Alpha: opts.Alpha, Threshold: opts.Threshold, Metrics: metrics, Comparisons: []Comparison{}}
	for _, m := range metrics {
		rep.Comparisons = append(rep.Comparisons, ComparePaired(key, m, a, b))
	}
	Decide(rep.Comparisons, opts)
	rep.finish()
	return rep
}

// MergeAB puts the A/B comparisons of ab in place of the stored-baseline comparisons of
// the same configurations (an interleaved A/B on this machine is the stronger test), adds
// its notes and recomputes the verdict. A report without comparisons changes nothing.
func (rep *Report) MergeAB(ab *Report) {
	if ab == nil || len(ab.Comparisons) == 0 {
		return
	}
	keys := map[string]bool{}
	for _, c := range ab.Comparisons {
		keys[c.Key] = true
	}
	var kept []Comparison
	for _, c := range rep.Comparisons {
		if !keys[c.Key] {
			kept = append(kept, c)
		}
	}
	rep.Comparisons = append(kept, ab.Comparisons...)
	sort.SliceStable(rep.Comparisons, func(i, j int) bool { return rep.Comparisons[i].Key < rep.Comparisons[j].Key })
	var only []string
	for _, k := range rep.OnlyInResults {
		if !keys[k] {
			only = append(only, k)
		}
	}
	rep.OnlyInResults = only
	if rep.ConfigNotes == nil {
		rep.ConfigNotes = map[string]string{}
	}
	for k, v := range ab.ConfigNotes {
		if old := rep.ConfigNotes[k]; old != "" {
			v = old + "; " + v
		}
		rep.ConfigNotes[k] = v
	}
	rep.Notes = append(rep.Notes, ab.Notes...)
	rep.finish()
}

// DropComparisons removes the comparisons drop selects from the verdict (they move to
// Informational) and recomputes it; it returns how many it removed.
func (rep *Report) DropComparisons(drop func(Comparison) bool) int {
	var kept []Comparison
	n := 0
	for _, c := range rep.Comparisons {
		if drop(c) {
			rep.Informational = append(rep.Informational, c)
			n++
			continue
		}
		kept = append(kept, c)
	}
	if n == 0 {
		return 0
	}
	if kept == nil {
		kept = []Comparison{}
	}
	rep.Comparisons = kept
	rep.finish()
	return n
}
