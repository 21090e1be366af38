package report

import (
	"cmp"
	"fmt"
	"image/color"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/perflab/perflab/internal/numfmt"
)

// maxLoadLines is how many serving configurations a panel names in its legend; the others
// are drawn as thin grey lines.
const maxLoadLines = 8

// drawLoad draws one panel per model: the request latency at the load report's percentile
// against the offered rate, one line per serving configuration (dashed: simulated),
// saturated points crossed, each named configuration's capacity circled, and the budget
// as a horizontal red dashed line. With many configurations the legend names the
// maxLoadLines with the highest capacity (the recommended one first).
func drawLoad(lr *LoadReport, dc draw.Canvas, cols, rows int) {
	p := lr.Percentile
	plots := make([][]*plot.Plot, rows)
	for r := range plots {
		plots[r] = make([]*plot.Plot, cols)
	}
	legends := make([]*plot.Legend, len(lr.Models))
	chosen := map[*ServingConfig]bool{}
	for _, r := range lr.Recommendations {
		if r.Chosen != nil {
			chosen[r.Chosen] = true
		}
	}
	for i, m := range lr.Models {
		pl := plot.New()
		pl.Title.Text = fmt.Sprintf("%s: %s latency vs offered load", m, p)
		pl.X.Label.Text = "offered rate (req/s)"
		pl.Y.Label.Text = p + " request latency (ms)"
		pl.Add(plotter.NewGrid())
		// The legend goes in a strip right of the panel, so that it never hides a point.
		leg := plot.NewLegend()
		leg.Top, leg.Left = true, true
		leg.ThumbnailWidth = 0.3 * vg.Inch
		leg.Padding = vg.Points(3)
		leg.TextStyle.Font.Size = vg.Points(8)
		legends[i] = &leg

		var cs []*ServingConfig
		for _, c := range lr.Configs {
			if c.Model == m {
				cs = append(cs, c)
			}
		}
		named := slices.Clone(cs)
		slices.SortStableFunc(named, func(a, b *ServingConfig) int {
			return cmp.Or(-cmpBool(chosen[a], chosen[b]), -cmp.Compare(a.Capacity, b.Capacity), compareServing(a, b))
		})
		if len(named) > maxLoadLines {
			named = named[:maxLoadLines]
		}
		var xs, ys []float64
		var sat, caps plotter.XYs
		for _, c := range cs {
			var pts plotter.XYs
			for _, pt := range c.Points {
				v := pt.Lat(p)
				if !(v > 0) {
					continue
				}
				pts = append(pts, plotter.XY{X: pt.OfferedRPS, Y: v})
				xs, ys = append(xs, pt.OfferedRPS), append(ys, v)
				if pt.Saturated {
					sat = append(sat, plotter.XY{X: pt.OfferedRPS, Y: v})
				}
			}
			if len(pts) == 0 {
				continue
			}
			k := slices.Index(named, c)
			ln, sc, _ := plotter.NewLinePoints(pts)
			if k < 0 {
				ln.LineStyle = draw.LineStyle{Color: color.Gray{Y: 190}, Width: vg.Points(0.8)}
				sc.GlyphStyle = draw.GlyphStyle{Color: color.Gray{Y: 190}, Shape: draw.CircleGlyph{}, Radius: vg.Points(1.5)}
				pl.Add(ln, sc)
				continue
			}
			col := modelColor(k)
			ln.LineStyle = draw.LineStyle{Color: col, Width: vg.Points(1.5)}
			if c.Simulated {
				ln.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Shape: modelShape(k), Radius: vg.Points(3)}
			pl.Add(ln, sc)
			label := c.ShortLabel()
			if c.Capacity > 0 {
				label += fmt.Sprintf(": %s req/s", numfmt.RPS(c.Capacity))
			}
			if chosen[c] {
				label += " (recommended)"
			}
			leg.Add(label, ln, sc)
			if pt := c.PointAt(c.Capacity); pt != nil && c.Capacity > 0 {
				caps = append(caps, plotter.XY{X: pt.OfferedRPS, Y: pt.Lat(p)})
			}
		}
		if len(sat) > 0 {
			sc, _ := plotter.NewScatter(sat)
			sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Shape: draw.CrossGlyph{}, Radius: vg.Points(5)}
			pl.Add(sc)
			leg.Add("cannot keep up", sc)
		}
		if len(caps) > 0 {
			sc, _ := plotter.NewScatter(caps)
			sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Shape: draw.RingGlyph{}, Radius: vg.Points(7)}
			pl.Add(sc)
			leg.Add("capacity", sc)
		}
		if len(xs) == 0 {
			pl.Title.Text = m + " (no latency measured)"
			plots[i/cols][i%cols] = pl
			continue
		}
		xmin, xmax := padRange(xs, 0)
		ymin, ymax := padRange(ys, lr.BudgetMs)
		if b := lr.BudgetMs; b > 0 {
			ln, _ := plotter.NewLine(plotter.XYs{{X: xmin, Y: b}, {X: xmax, Y: b}})
			ln.LineStyle = draw.LineStyle{Color: budgetColor, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(6), vg.Points(4)}}
			pl.Add(ln)
			leg.Add(fmt.Sprintf("%s budget %s ms", p, fmtNum(b)), ln)
		}
		setAxis(&pl.X, xmin, xmax)
		setAxis(&pl.Y, ymin, ymax)
		plots[i/cols][i%cols] = pl
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(14), PadY: vg.Points(14), PadTop: vg.Points(10), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	const legW = 2.5 * vg.Inch
	for i := range lr.Models {
		r, c := i/cols, i%cols
		tc := tiles.At(dc, c, r)
		plots[r][c].Draw(draw.Crop(tc, 0, -legW, 0, 0))
		legends[i].Draw(draw.Crop(tc, tc.Max.X-tc.Min.X-legW+vg.Points(8), 0, 0, -vg.Points(22)))
	}
}
