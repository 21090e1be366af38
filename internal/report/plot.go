package report

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/perflab/perflab/internal/atomicfile"
)

// PlotDPI is the resolution of the PNG plots.
const PlotDPI = 110

// WritePlots writes the report's plots as PNG files in dir, named base + "_...png", and
// returns them with paths relative to dir (where the markdown goes):
//
//   - base_throughput_vs_pXX.png: throughput against the chosen latency percentile, one
//     colour and marker per model, each model's Pareto front as a line (models are
//     different workloads, so fronts are per model), the recommended configurations
//     circled, configurations that may not be recommended as grey crosses, and the budget
//     as a vertical red dashed line.
//   - base_latency_by_batch.png: one panel per model; for each batch size, the usable
//     configuration with the lowest chosen-percentile latency (labelled under its p50
//     point), and its p50, p95 and p99.
//
// With no usable configuration there is nothing to plot and no file is written.
//
// With load records, base_latency_vs_load.png is added (see drawLoad).
func WritePlots(rep *Report, dir, base string) ([]PlotFile, error) {
	files, err := writeBenchPlots(rep, dir, base)
	if err != nil {
		return nil, err
	}
	if lr := rep.Load; lr != nil && len(lr.Configs) > 0 {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create plot folder: %w", err)
		}
		name := base + "_latency_vs_load.png"
		cols := min(len(lr.Models), 2)
		rows := (len(lr.Models) + cols - 1) / cols
		w, h := vg.Length(cols)*8.5*vg.Inch, vg.Length(rows)*4.5*vg.Inch
		if err := writePNG(filepath.Join(dir, name), w, h, func(dc draw.Canvas) { drawLoad(lr, dc, cols, rows) }); err != nil {
			return nil, err
		}
		files = append(files, PlotFile{Title: "Request latency vs offered load", Path: name})
	}
	return files, nil
}

func writeBenchPlots(rep *Report, dir, base string) ([]PlotFile, error) {
	if !slices.ContainsFunc(rep.Entries, func(e *Entry) bool { return e.Usable }) {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create plot folder: %w", err)
	}
	p := rep.Options.Percentile
	var files []PlotFile

	name := base + "_throughput_vs_" + p + ".png"
	if err := writePNG(filepath.Join(dir, name), 9*vg.Inch, 5.5*vg.Inch, func(dc draw.Canvas) { drawTradeoff(rep, dc) }); err != nil {
		return nil, err
	}
	files = append(files, PlotFile{Title: "Throughput vs " + p + " latency", Path: name})

	name = base + "_latency_by_batch.png"
	cols := min(len(rep.Models), 3)
	rows := (len(rep.Models) + cols - 1) / cols
	w, h := vg.Length(cols)*4.5*vg.Inch, vg.Length(rows)*3.8*vg.Inch
	if err := writePNG(filepath.Join(dir, name), w, h, func(dc draw.Canvas) { drawByBatch(rep, dc, cols, rows) }); err != nil {
		return nil, err
	}
	files = append(files, PlotFile{Title: "Latency percentiles by batch size", Path: name})
	return files, nil
}

func writePNG(path string, w, h vg.Length, drawFn func(draw.Canvas)) error {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(PlotDPI), vgimg.UseBackgroundColor(color.White))
	drawFn(draw.New(img))
	// Rendered in memory, then written atomically: a full disk leaves no truncated PNG.
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return fmt.Errorf("render plot %s: %w", path, err)
	}
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

var budgetColor = color.RGBA{R: 200, G: 30, B: 30, A: 255}

// modelPalette has no red: red is the budget's.
var modelPalette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},  // blue
	color.RGBA{R: 44, G: 160, B: 44, A: 255},   // green
	color.RGBA{R: 255, G: 127, B: 14, A: 255},  // orange
	color.RGBA{R: 148, G: 103, B: 189, A: 255}, // purple
	color.RGBA{R: 140, G: 86, B: 75, A: 255},   // brown
	color.RGBA{R: 23, G: 190, B: 207, A: 255},  // cyan
}

func modelColor(i int) color.Color { return modelPalette[i%len(modelPalette)] }

func modelShape(i int) draw.GlyphDrawer {
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.PlusGlyph{}}
	return shapes[i%len(shapes)]
}

// drawTradeoff draws throughput vs latency at the chosen percentile, with the legend in a
// strip on the right so that it never hides a point.
func drawTradeoff(rep *Report, dc draw.Canvas) {
	p := rep.Options.Percentile
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("Throughput vs %s latency (%s)", p, rep.Options.Constraint)
	pl.X.Label.Text = p + " latency per batch (ms)"
	pl.Y.Label.Text = "throughput (req/s)"
	pl.Add(plotter.NewGrid())
	leg := plot.NewLegend()
	leg.Top, leg.Left = true, true
	leg.ThumbnailWidth = 0.35 * vg.Inch
	leg.Padding = vg.Points(5)

	var xs, ys []float64
	for _, e := range rep.Entries {
		if v := e.Lat(p); v > 0 && e.ThroughputRPS > 0 {
			xs, ys = append(xs, v), append(ys, e.ThroughputRPS)
		}
	}
	for i, m := range rep.Models {
		var pts plotter.XYs
		for _, e := range rep.Entries {
			if e.Model == m && e.Usable {
				pts = append(pts, plotter.XY{X: e.Lat(p), Y: e.ThroughputRPS})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, _ := plotter.NewScatter(pts)
		sc.GlyphStyle = draw.GlyphStyle{Color: modelColor(i), Shape: modelShape(i), Radius: vg.Points(3.5)}
		var front plotter.XYs
		for _, e := range rep.ParetoFront(m) {
			front = append(front, plotter.XY{X: e.Lat(p), Y: e.ThroughputRPS})
		}
		ln, _ := plotter.NewLine(front)
		ln.LineStyle = draw.LineStyle{Color: modelColor(i), Width: vg.Points(1.5)}
		pl.Add(ln, sc)
		leg.Add(m, ln, sc)
	}
	var bad plotter.XYs
	for _, e := range rep.Entries {
		if !e.Usable && e.Lat(p) > 0 && e.ThroughputRPS > 0 {
			bad = append(bad, plotter.XY{X: e.Lat(p), Y: e.ThroughputRPS})
		}
	}
	if len(bad) > 0 {
		sc, _ := plotter.NewScatter(bad)
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Gray{Y: 140}, Shape: draw.CrossGlyph{}, Radius: vg.Points(3.5)}
		pl.Add(sc)
		leg.Add("not usable", sc)
	}
	var chosen plotter.XYs
	for _, r := range rep.Recommendations {
		if r.Chosen != nil {
			chosen = append(chosen, plotter.XY{X: r.Chosen.Lat(p), Y: r.Chosen.ThroughputRPS})
		}
	}
	if len(chosen) > 0 {
		sc, _ := plotter.NewScatter(chosen)
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Shape: draw.RingGlyph{}, Radius: vg.Points(8)}
		pl.Add(sc)
		leg.Add("recommended", sc)
	}

	xmin, xmax := padRange(xs, rep.Options.BudgetMs)
	ymin, ymax := padRange(ys, 0)
	if b := rep.Options.BudgetMs; b > 0 {
		ln, _ := plotter.NewLine(plotter.XYs{{X: b, Y: ymin}, {X: b, Y: ymax}})
		ln.LineStyle = draw.LineStyle{Color: budgetColor, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
		pl.Add(ln)
		leg.Add(fmt.Sprintf("%s budget %s ms", p, fmtNum(b)), ln)
	}
	leg.Add("lines: Pareto front")
	leg.Add("of each model")
	setAxis(&pl.X, xmin, xmax)
	setAxis(&pl.Y, ymin, ymax)

	legW := 1.9 * vg.Inch
	pl.Draw(draw.Crop(dc, vg.Points(4), -legW, vg.Points(4), -vg.Points(8)))
	leg.Draw(draw.Crop(dc, dc.Max.X-dc.Min.X-legW+vg.Points(10), 0, 0, -vg.Points(30)))
}

// drawByBatch draws one panel per model: p50, p95 and p99 of the fastest usable
// configuration (lowest chosen percentile) at each batch size.
func drawByBatch(rep *Report, dc draw.Canvas, cols, rows int) {
	p := rep.Options.Percentile
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	for i, m := range rep.Models {
		pl := plot.New()
		pl.Title.Text = m
		pl.X.Label.Text = "batch size"
		pl.Y.Label.Text = "latency per batch (ms)"
		pl.Add(plotter.NewGrid())
		pl.Legend.Top, pl.Legend.Left = true, true
		pl.Legend.ThumbnailWidth = 0.35 * vg.Inch
		pl.Legend.Padding = vg.Points(3)

		best := map[int]*Entry{}
		for _, e := range rep.Entries {
			if e.Model != m || !e.Usable {
				continue
			}
			if b, ok := best[e.BatchSize]; !ok || e.Lat(p) < b.Lat(p) {
				best[e.BatchSize] = e
			}
		}
		var batches []int
		for b := range best {
			batches = append(batches, b)
		}
		slices.Sort(batches)
		var ys []float64
		for j, q := range []string{"p50", "p95", "p99"} {
			var pts plotter.XYs
			for _, b := range batches {
				pts = append(pts, plotter.XY{X: float64(b), Y: best[b].Lat(q)})
				ys = append(ys, best[b].Lat(q))
			}
			if len(pts) == 0 {
				continue
			}
			ln, sc, _ := plotter.NewLinePoints(pts)
			c := []color.Color{modelPalette[0], modelPalette[2], modelPalette[3]}[j]
			ln.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: plotutil.Dashes(j)}
			sc.GlyphStyle = draw.GlyphStyle{Color: c, Shape: draw.CircleGlyph{}, Radius: vg.Points(3)}
			pl.Add(ln, sc)
			pl.Legend.Add(q, ln, sc)
		}
		if len(batches) > 0 {
			// Which configuration each batch size shows, under its p50 point.
			xyl := plotter.XYLabels{}
			for _, b := range batches {
				xyl.XYs = append(xyl.XYs, plotter.XY{X: float64(b), Y: best[b].Lat("p50")})
				xyl.Labels = append(xyl.Labels, best[b].ShortLabel())
			}
			if lb, err := plotter.NewLabels(xyl); err == nil {
				for k := range lb.TextStyle {
					lb.TextStyle[k].Font.Size = vg.Points(8)
					lb.TextStyle[k].XAlign = draw.XCenter
					lb.TextStyle[k].Color = color.Gray{Y: 70}
				}
				lb.Offset = vg.Point{Y: -vg.Points(14)}
				pl.Add(lb)
			}
		}
		if len(batches) == 0 {
			pl.Title.Text = m + " (no usable configuration)"
			plots[i/cols][i%cols] = pl
			continue
		}
		pl.Title.Text = m + ": fastest config per batch (by " + p + ")"
		ymin, ymax := padRange(ys, 0)
		if ymin > 0 && ymax/ymin > 10 {
			ymin /= 1.5 // room for the labels under the lowest points
		} else {
			ymin = max(ymin-(ymax-ymin)*0.12, 0)
		}
		if b := rep.Options.BudgetMs; b > 0 && b <= ymax*1.5 && b >= ymin {
			ymax = max(ymax, b*1.05)
			ln, _ := plotter.NewLine(plotter.XYs{{X: float64(batches[0]), Y: b}, {X: float64(batches[len(batches)-1]), Y: b}})
			ln.LineStyle = draw.LineStyle{Color: budgetColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
			pl.Add(ln)
			pl.Legend.Add(fmt.Sprintf("%s budget %s ms", p, fmtNum(b)), ln)
		}
		setAxis(&pl.Y, ymin, ymax)
		bx := make([]float64, len(batches))
		for k, b := range batches {
			bx[k] = float64(b)
		}
		xmin, xmax := float64(batches[0]), float64(batches[len(batches)-1])
		if xmax/xmin > 3 {
			pl.X.Scale = plot.LogScale{}
			pl.X.Min, pl.X.Max = xmin/1.4, xmax*1.4 // room for the labels
		} else {
			pad := max((xmax-xmin)*0.15, 0.5)
			pl.X.Min, pl.X.Max = xmin-pad, xmax+pad
		}
		pl.X.Tick.Marker = valueTicks(bx)
		plots[i/cols][i%cols] = pl
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(12), PadY: vg.Points(12), PadTop: vg.Points(10), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	// Plain tiles rather than plot.Align: titles and x axes line up across panels.
	for r := range plots {
		for c := range plots[r] {
			if plots[r][c] != nil {
				plots[r][c].Draw(tiles.At(dc, c, r))
			}
		}
	}
}

// padRange returns a padded [min, max] of vs (and extra, when positive), suited to a log
// or linear axis chosen by setAxis.
func padRange(vs []float64, extra float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		if v > 0 && !math.IsInf(v, 0) {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if extra > 0 {
		lo, hi = min(lo, extra), max(hi, extra)
	}
	if math.IsInf(lo, 1) {
		return 0.5, 2
	}
	if hi/lo > 10 {
		return lo / 1.15, hi * 1.15
	}
	pad := (hi - lo) * 0.08
	if pad == 0 {
		pad = hi * 0.1
	}
	return max(lo-pad, 0), hi + pad
}

// setAxis sets the range, with a log scale and 1-2-5 ticks when it spans more than 10x.
func setAxis(a *plot.Axis, lo, hi float64) {
	a.Min, a.Max = lo, hi
	a.Tick.Marker = cleanTicks{}
	if lo > 0 && hi/lo > 10 {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = logTicks{}
	}
}

// cleanTicks are gonum's default ticks with labels as short as they go ("500", not
// "500.00").
type cleanTicks struct{}

func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
			if v, err := strconv.ParseFloat(ts[i].Label, 64); err == nil && len(ts[i].Label) > 8 {
				ts[i].Label = strconv.FormatFloat(v, 'g', 4, 64)
			}
		}
	}
	return ts
}

// logTicks labels 1, 2 and 5 times powers of ten (1, 2, 3, 4, 5, 6 and 8 when that
// labels fewer than four), with minor ticks between.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	mk := func(labelled map[int]bool) ([]plot.Tick, int) {
		var ts []plot.Tick
		n := 0
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			pow := math.Pow(10, e)
			for m := 1; m <= 9; m++ {
				v := float64(m) * pow
				if v < lo || v > hi {
					continue
				}
				t := plot.Tick{Value: v}
				if labelled[m] {
					t.Label = strconv.FormatFloat(v, 'g', 6, 64)
					n++
				}
				ts = append(ts, t)
			}
		}
		return ts, n
	}
	ts, n := mk(map[int]bool{1: true, 2: true, 5: true})
	if n < 4 {
		ts, _ = mk(map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 8: true})
	}
	return ts
}

// valueTicks labels exactly the given values.
type valueTicks []float64

func (v valueTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, x := range slices.SortedFunc(slices.Values(v), cmp.Compare) {
		if x >= lo && x <= hi {
			ts = append(ts, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		}
	}
	return ts
}
