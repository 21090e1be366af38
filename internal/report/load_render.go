package report

import (
	"fmt"
	"io"
	"math"

	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/stats"
)

// loadMarkdown writes the "Serving under load" section.
func loadMarkdown(pf func(string, ...any), lr *LoadReport) {
	p := lr.Percentile
	pf("\n## Serving under load\n\n")
	pf("Open-loop load (perflab load): each request's latency runs from its *scheduled* arrival to the end of its batch (queue wait + compute), so a server that falls behind shows it; nearest-rank percentiles, 95%% CIs from order statistics (queueing makes successive requests' latencies correlated: read the CIs as optimistic). A rate is **sustained** when the run kept up (achieved >= 95%% of the issued rate, <= 1%% of requests timed out or dropped) and its %s is within the budget; a configuration's **capacity** is its highest sustained offered rate. Simulated rows are predictions from measured batch service times (perflab load --simulate).\n", p)
	if lr.BudgetMs > 0 {
		pf("\nBudget: %s <= %s ms (%s).\n", p, fmtNum(lr.BudgetMs), lr.BudgetFrom)
	} else {
		pf("\nNo latency budget: give `--latency-budget-ms` for capacities and a recommended serving configuration.\n")
	}

	if len(lr.Recommendations) > 0 {
		pf("\n### Recommended serving configuration\n\n")
		pf("The highest capacity within the budget (measured configurations first); capacities within %.0f%% count as equal and the cheapest wins: fewest CPUs (instances x threads), then the shortest max delay, then the smallest max batch.\n\n", CapacityTieTolerance*100)
		pf("| model | instances | threads | max batch | max delay (ms) | compile | capacity (req/s) | %s at capacity (ms) | why |\n", p)
		pf("|---|---:|---:|---:|---:|---|---:|---:|---|\n")
		for _, r := range lr.Recommendations {
			if r.None {
				pf("| %s | - | - | - | - | - | none | - | %s |\n", cell(r.Model), cell(r.Reason))
				continue
			}
			c := r.Chosen
			at := c.PointAt(c.Capacity)
			capText := numfmt.RPS(c.Capacity)
			if r.Predicted {
				capText += " (predicted)"
			}
			pf("| %s | %d | %d | %d | %s | %s | %s | %s | %s |\n", cell(r.Model), c.Instances, c.Threads, c.MaxBatch,
				fmtNum(c.MaxDelayMs), c.compileLabel(), capText, latPointCell(at, p), cell(r.Reason))
		}
		for _, r := range lr.Recommendations {
			if r.RunnerUp != nil {
				ru := r.RunnerUp
				pf("\n%s runner-up: %s — capacity %s req/s.\n", r.Model, ru.Label(), numfmt.RPS(ru.Capacity))
			}
		}
	}

	pf("\n### Latency vs offered load\n\n")
	pf("One row per serving configuration and offered rate. Latencies in ms; %s with its 95%% CI. queue p95 is the queue wait (scheduled arrival to batch start), compute p95 the batch forward time.\n\n", p)
	pf("| model | serving configuration | offered | achieved | p50 | p90 | p95 | p99 | queue p95 | compute p95 | mean batch | requests | notes |\n")
	pf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, c := range lr.Configs {
		for _, pt := range c.Points {
			lats := make([]string, 0, 4)
			for _, q := range stats.PercentileNames {
				if q == p {
					lats = append(lats, latPointCell(pt, q))
				} else {
					lats = append(lats, numfmt.Ms(pt.Lat(q)))
				}
			}
			var marks, notes []string
			if lr.BudgetMs > 0 && c.Capacity == pt.OfferedRPS && pt.Pass {
				marks = append(marks, "**capacity**")
			}
			switch {
			case pt.Saturated:
				notes = append(notes, "CANNOT KEEP UP (saturated)")
			case lr.BudgetMs > 0 && !pt.Pass:
				notes = append(notes, "over budget")
			}
			if pt.Timeouts+pt.Dropped > 0 {
				notes = append(notes, fmt.Sprintf("%d timed out, %d dropped", pt.Timeouts, pt.Dropped))
			}
			if pt.FromSearch {
				notes = append(notes, "capacity-search step")
			}
			if pt.Runs > 1 {
				notes = append(notes, fmt.Sprintf("%d runs", pt.Runs))
			}
			if !c.Usable {
				notes = append(notes, "not usable")
			}
			if pt == c.Points[0] {
				notes = append(notes, c.Notes...)
			}
			pf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
				cell(c.Model), cell(c.Label()), numfmt.RPS(pt.OfferedRPS), numfmt.RPS(pt.AchievedRPS),
				lats[0], lats[1], lats[2], lats[3], numfmt.Ms(pt.QueueWaitP95), numfmt.Ms(pt.ComputeP95), fmtBatch(pt.MeanBatch),
				pt.Requests, notesCell(marks, notes))
		}
	}

	if len(lr.Failures) > 0 {
		pf("\n### Failed load runs\n\n| model | serving configuration | offered | what happened |\n|---|---|---:|---|\n")
		for _, f := range lr.Failures {
			pf("| %s | %s | %s | %s |\n", cell(f.Config.Model), cell(f.Config.Label()), numfmt.RPS(f.Rate), cell(truncate("failed: "+f.Reason, 300)))
		}
	}
}

func (c *ServingConfig) compileLabel() string {
	return c.Knobs.CompileLabel(c.CompileApplied)
}

func latPointCell(pt *LoadPoint, p string) string {
	if pt == nil {
		return "-"
	}
	l := pt.Latency[p]
	if !l.HasCI {
		return numfmt.Ms(l.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", numfmt.Ms(l.Value), numfmt.Ms(l.CI.Lo), numfmt.Ms(l.CI.Hi))
}

func fmtBatch(v float64) string {
	if math.IsNaN(v) || v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// loadText writes the serving recommendations for a terminal.
func loadText(w io.Writer, lr *LoadReport) error {
	if lr == nil {
		return nil
	}
	if len(lr.Recommendations) == 0 {
		_, err := fmt.Fprintf(w, "serving: %d load records of %d configurations; no latency budget: give --latency-budget-ms for capacities\n", lr.Records, len(lr.Configs))
		return err
	}
	for _, r := range lr.Recommendations {
		if r.None {
			if _, err := fmt.Fprintf(w, "%s serving: no recommendation: %s\n", r.Model, r.Reason); err != nil {
				return err
			}
			continue
		}
		c := r.Chosen
		pred := ""
		if r.Predicted {
			pred = " (predicted)"
		}
		if _, err := fmt.Fprintf(w, "%s serving: %s\n  capacity %s req/s%s with %s <= %s ms\n  why: %s\n",
			r.Model, c.Label(), numfmt.RPS(c.Capacity), pred, r.Percentile, fmtNum(r.BudgetMs), r.Reason); err != nil {
			return err
		}
	}
	return nil
}

// JSONServing is one model's recommended serving configuration in the JSON output.
type JSONServing struct {
	Model            string   `json:"model"`
	Percentile       string   `json:"latency_pct"`
	BudgetMs         float64  `json:"latency_budget_ms"`
	None             bool     `json:"none"`
	Predicted        bool     `json:"predicted,omitempty"`
	Instances        int      `json:"instances,omitempty"`
	Threads          int      `json:"threads,omitempty"`
	MaxBatch         int      `json:"max_batch,omitempty"`
	MaxDelayMs       *float64 `json:"max_delay_ms,omitempty"`
	Compile          *bool    `json:"compile,omitempty"`
	CompileRequested string   `json:"compile_requested,omitempty"`
	ChannelsLast     bool     `json:"channels_last,omitempty"`
	Quantize         bool     `json:"quantize,omitempty"`
	Arrival          string   `json:"arrival,omitempty"`
	CapacityRPS      float64  `json:"capacity_rps"`
	LatencyMs        float64  `json:"latency_ms,omitempty"` // at the percentile, at the capacity
	AchievedRPS      float64  `json:"achieved_rps,omitempty"`
	Tie              bool     `json:"tie"`
	Reason           string   `json:"reason"`
	RunnerUp         string   `json:"runner_up,omitempty"`
	RunnerUpCapacity float64  `json:"runner_up_capacity_rps,omitempty"`
}

func (lr *LoadReport) toJSON() []JSONServing {
	if lr == nil {
		return nil
	}
	out := []JSONServing{}
	for _, r := range lr.Recommendations {
		j := JSONServing{Model: r.Model, Percentile: r.Percentile, BudgetMs: r.BudgetMs, None: r.None, Predicted: r.Predicted, Tie: r.Tie, Reason: r.Reason}
		if c := r.Chosen; c != nil {
			d, comp := c.MaxDelayMs, c.CompileApplied
			j.Instances, j.Threads, j.MaxBatch, j.MaxDelayMs, j.Compile = c.Instances, c.Threads, c.MaxBatch, &d, &comp
			j.CompileRequested, j.ChannelsLast, j.Quantize, j.Arrival = c.Compile, c.ChannelsLast, c.Quantize, c.Arrival
			j.CapacityRPS = c.Capacity
			if at := c.PointAt(c.Capacity); at != nil {
				j.LatencyMs, j.AchievedRPS = stats.Finite(at.Lat(r.Percentile)), stats.Finite(at.AchievedRPS)
			}
		}
		if ru := r.RunnerUp; ru != nil {
			j.RunnerUp, j.RunnerUpCapacity = ru.Label(), ru.Capacity
		}
		out = append(out, j)
	}
	return out
}
