package numfmt

import (
	"math"
	"testing"
)

func TestMs(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0.000"}, {0.12345, "0.123"}, {0.9994, "0.999"}, {1, "1.00"}, {4, "4.00"}, {3.1, "3.10"},
		{9.994, "9.99"}, {12.3456, "12.3"}, {17.26, "17.3"}, {123.456, "123.5"}, {999.94, "999.9"},
		{1234.5, "1234"}, {-2.5, "-2.50"}, {-45, "-45.0"}, {math.NaN(), "-"},
	} {
		if got := Ms(tt.v); got != tt.want {
			t.Errorf("Ms(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestRPS(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{{245.34, "245.3"}, {0, "0.0"}, {1e4, "10000.0"}, {math.NaN(), "-"}} {
		if got := RPS(tt.v); got != tt.want {
			t.Errorf("RPS(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
