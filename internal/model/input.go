package model

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// DTypes are the element types an --input may name.
var DTypes = []string{"float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool"}

// InputSpec describes one forward argument: dtype, shape with B for the batch size, and an
// optional inclusive value range. Written as "float32[B,3,224,224]" or
// "int64[B,128]:0..8191".
type InputSpec struct {
	DType    string
	Dims     []int64 // -1 stands for the batch size B
	HasRange bool
	Lo, Hi   float64
}

// Batch marks the batch dimension in InputSpec.Dims.
const Batch = -1

var specRE = regexp.MustCompile(`^\s*([a-z0-9]+)\s*\[([^\]]*)\]\s*(?::\s*(.+))?$`)

// ParseInput parses an --input value.
func ParseInput(s string) (InputSpec, error) {
	const want = `want DTYPE[DIMS] or DTYPE[DIMS]:LO..HI, e.g. 'float32[B,3,224,224]' or 'int64[B,128]:0..8191'`
	bad := func(format string, args ...any) error {
		return fmt.Errorf("malformed --input %q: %s; %s", s, fmt.Sprintf(format, args...), want)
	}
	m := specRE.FindStringSubmatch(s)
	if m == nil {
		return InputSpec{}, fmt.Errorf("malformed --input %q: %s", s, want)
	}
	spec := InputSpec{DType: m[1]}
	if !isDType(spec.DType) {
		return InputSpec{}, bad("unknown dtype %q (one of %s)", spec.DType, strings.Join(DTypes, ", "))
	}
	if strings.TrimSpace(m[2]) != "" {
		for _, d := range strings.Split(m[2], ",") {
			d = strings.TrimSpace(d)
			if d == "B" || d == "b" {
				spec.Dims = append(spec.Dims, Batch)
				continue
			}
			n, err := strconv.ParseInt(d, 10, 64)
			if err != nil || n < 1 {
				return InputSpec{}, bad("dimension %q must be B or a positive integer", d)
			}
			spec.Dims = append(spec.Dims, n)
		}
	}
	if m[3] != "" {
		if spec.DType == "bool" {
			return InputSpec{}, bad("bool inputs take no range")
		}
		lo, hi, ok := strings.Cut(m[3], "..")
		l, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		h, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if !ok || err1 != nil || err2 != nil || math.IsNaN(l) || math.IsNaN(h) || math.IsInf(l, 0) || math.IsInf(h, 0) || l > h {
			return InputSpec{}, bad("range %q must be LO..HI with finite LO <= HI", m[3])
		}
		if !spec.IsFloat() {
			if l != math.Trunc(l) || h != math.Trunc(h) {
				return InputSpec{}, bad("an integer range needs whole numbers")
			}
			if lim := intLimits[spec.DType]; l < lim[0] || h > lim[1] {
				return InputSpec{}, bad("range %q does not fit %s (%g..%g)", m[3], spec.DType, lim[0], lim[1])
			}
		}
		spec.HasRange, spec.Lo, spec.Hi = true, l, h
	}
	return spec, nil
}

// intLimits are the value ranges of the integer dtypes (int64's kept within what a float64
// holds exactly).
var intLimits = map[string][2]float64{
	"int64": {-(1 << 53), 1 << 53}, "int32": {math.MinInt32, math.MaxInt32},
	"int16": {math.MinInt16, math.MaxInt16}, "int8": {math.MinInt8, math.MaxInt8}, "uint8": {0, math.MaxUint8},
}

func isDType(s string) bool {
	for _, d := range DTypes {
		if d == s {
			return true
		}
	}
	return false
}

// IsFloat reports whether the spec is of a floating-point type.
func (s InputSpec) IsFloat() bool {
	return strings.HasPrefix(s.DType, "float") || s.DType == "bfloat16"
}

// Shape returns the dimensions with B replaced by batch.
func (s InputSpec) Shape(batch int) []int64 {
	out := make([]int64, len(s.Dims))
	for i, d := range s.Dims {
		if d == Batch {
			d = int64(batch)
		}
		out[i] = d
	}
	return out
}

// String formats the spec the way ParseInput reads it.
func (s InputSpec) String() string {
	dims := make([]string, len(s.Dims))
	for i, d := range s.Dims {
		if d == Batch {
			dims[i] = "B"
		} else {
			dims[i] = strconv.FormatInt(d, 10)
		}
	}
	out := s.DType + "[" + strings.Join(dims, ",") + "]"
	if s.HasRange {
		out += ":" + strconv.FormatFloat(s.Lo, 'g', -1, 64) + ".." + strconv.FormatFloat(s.Hi, 'g', -1, 64)
	}
	return out
}
