// Package numfmt prints the numbers perflab's reports, gate verdicts and PR comments show,
// one way everywhere: a latency reads the same in the gate's table, the recommendation and
// the full report of one comment.
package numfmt

import (
	"math"
	"strconv"
)

// Ms formats milliseconds with about 3 significant digits: 0.123, 1.23, 12.3, 123.4, 1234
// (one decimal from 10 to 1000); "-" for NaN.
func Ms(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case a < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case a < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// RPS formats requests per second with one decimal: 245.3; "-" for NaN.
func RPS(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
