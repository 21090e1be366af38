package report

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/stats"
)

// JSONConfig is a configuration in the JSON output: its knobs with the record's names,
// and what it measured.
type JSONConfig struct {
	knobs.Knobs
	CompileApplied bool     `json:"compile"`
	InteropThreads int      `json:"interop_threads"`           // written even when 0 (libtorch's default)
	LatencyMs      float64  `json:"latency_ms"`                // at the chosen percentile
	LatencyCI      *JSONCI  `json:"latency_ci,omitempty"`      // within-run order-statistic CI
	LatencyRunsCI  *JSONCI  `json:"latency_runs_ci,omitempty"` // between-process CI (worker processes)
	Processes      int      `json:"processes,omitempty"`       // worker processes behind latency_runs_ci
	ThroughputRPS  float64  `json:"throughput_rps"`
	Iters          int      `json:"iters,omitempty"`
	Runs           int      `json:"runs,omitempty"`
	Latencies      JSONLats `json:"latencies_ms"` // every percentile
	// compile inductor: the package's compile cost (seconds, once per package), kernel ISA.
	Inductor       bool    `json:"inductor,omitempty"`
	CompileSeconds float64 `json:"compile_seconds,omitempty"`
	CompileISA     string  `json:"compile_isa,omitempty"`
}

// JSONCI is a confidence interval.
type JSONCI struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
}

// JSONLats holds every latency percentile.
type JSONLats struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// JSONRecommendation is one model's recommendation in the JSON output. With None the
// configuration fields are absent and Closest may name the nearest configuration.
type JSONRecommendation struct {
	Model      string   `json:"model"`
	Constraint string   `json:"constraint"`
	Percentile string   `json:"latency_pct"`
	BudgetMs   *float64 `json:"latency_budget_ms,omitempty"`
	None       bool     `json:"none"`
	*JSONConfig
	Tie            bool        `json:"tie"`
	Reason         string      `json:"reason"`
	RunnerUp       *JSONConfig `json:"runner_up,omitempty"`
	RunnerUpReason string      `json:"runner_up_reason"`
	Closest        *JSONConfig `json:"closest,omitempty"`
}

// JSONReport is the JSON output: {"recommendations": [...]}.
type JSONReport struct {
	Recommendations []JSONRecommendation `json:"recommendations"`
	Serving         []JSONServing        `json:"serving,omitempty"` // load records: recommended serving configuration per model
}

// ToJSON converts the report's recommendations.
func (r *Report) ToJSON() JSONReport {
	out := JSONReport{Recommendations: []JSONRecommendation{}}
	p := r.Options.Percentile
	for _, rec := range r.Recommendations {
		j := JSONRecommendation{
			Model: rec.Model, Constraint: rec.Constraint, Percentile: rec.Percentile, None: rec.None,
			JSONConfig: jsonConfig(rec.Chosen, p), Tie: rec.Tie, Reason: rec.Reason,
			RunnerUp: jsonConfig(rec.RunnerUp, p), RunnerUpReason: rec.RunnerUpReason,
			Closest: jsonConfig(rec.Closest, p),
		}
		if rec.BudgetMs > 0 {
			b := rec.BudgetMs
			j.BudgetMs = &b
		}
		out.Recommendations = append(out.Recommendations, j)
	}
	out.Serving = r.Load.toJSON()
	return out
}

func jsonConfig(e *Entry, p string) *JSONConfig {
	if e == nil {
		return nil
	}
	c := &JSONConfig{
		Knobs: e.Knobs, CompileApplied: e.CompileApplied, InteropThreads: e.InteropThreads, LatencyMs: stats.Finite(e.Lat(p)),
		ThroughputRPS: stats.Finite(e.ThroughputRPS), Iters: e.Iters, Runs: e.Runs,
		Inductor: e.Inductor, CompileSeconds: e.CompileSeconds, CompileISA: e.CompileISA,
		Latencies: JSONLats{P50: stats.Finite(e.Lat("p50")), P90: stats.Finite(e.Lat("p90")), P95: stats.Finite(e.Lat("p95")), P99: stats.Finite(e.Lat("p99"))},
	}
	if l := e.Latency[p]; l.HasCI {
		c.LatencyCI = &JSONCI{Lo: l.CI.Lo, Hi: l.CI.Hi, Confidence: l.CI.Confidence}
	}
	if l := e.Latency[p]; l.HasBetween {
		c.LatencyRunsCI = &JSONCI{Lo: l.Between.Lo, Hi: l.Between.Hi, Confidence: l.Between.Confidence}
		c.Processes = len(e.Processes)
	}
	return c
}

// WriteJSON writes {"recommendations": [...]} as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r.ToJSON()); err != nil {
		return fmt.Errorf("encode recommendations: %w", err)
	}
	return nil
}

// Text writes the recommendations for a terminal: one block per model, then the serving
// recommendations of load records.
func Text(w io.Writer, r *Report) error {
	if err := benchText(w, r); err != nil {
		return err
	}
	return loadText(w, r.Load)
}

func benchText(w io.Writer, r *Report) error {
	p := r.Options.Percentile
	for _, rec := range r.Recommendations {
		if rec.None {
			if _, err := fmt.Fprintf(w, "%s: no recommendation: %s\n", rec.Model, rec.Reason); err != nil {
				return err
			}
			continue
		}
		c := rec.Chosen
		if _, err := fmt.Fprintf(w, "%s: %s\n  %s, %s req/s\n  why: %s\n", rec.Model, c.Label(), latWithCI(c, p), numfmt.RPS(c.ThroughputRPS), rec.Reason); err != nil {
			return err
		}
		if ru := rec.RunnerUp; ru != nil {
			if _, err := fmt.Fprintf(w, "  runner-up: %s: %s\n", ru.Label(), rec.RunnerUpReason); err != nil {
				return err
			}
		}
	}
	return nil
}
