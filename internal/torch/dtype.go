package torch

// #include "shim.h"
import "C"

import (
	"fmt"
	"sort"
	"strings"
)

// DType is a tensor element type.
type DType int

// The element types perflab can make inputs of (codes shared with shim.h).
const (
	Float32  DType = C.PL_FLOAT32
	Float64  DType = C.PL_FLOAT64
	Float16  DType = C.PL_FLOAT16
	BFloat16 DType = C.PL_BFLOAT16
	Int64    DType = C.PL_INT64
	Int32    DType = C.PL_INT32
	Int16    DType = C.PL_INT16
	Int8     DType = C.PL_INT8
	Uint8    DType = C.PL_UINT8
	Bool     DType = C.PL_BOOL
)

var dtypeNames = map[string]DType{
	"float32": Float32, "float64": Float64, "float16": Float16, "bfloat16": BFloat16,
	"int64": Int64, "int32": Int32, "int16": Int16, "int8": Int8, "uint8": Uint8, "bool": Bool,
}

// ParseDType returns the DType named like torch's dtypes without the "torch." prefix.
func ParseDType(name string) (DType, error) {
	if d, ok := dtypeNames[strings.ToLower(name)]; ok {
		return d, nil
	}
	names := make([]string, 0, len(dtypeNames))
	for n := range dtypeNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return 0, fmt.Errorf("unknown dtype %q (want one of %s)", name, strings.Join(names, ", "))
}

// String returns the dtype's name, e.g. "float32".
func (d DType) String() string {
	for n, v := range dtypeNames {
		if v == d {
			return n
		}
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}
