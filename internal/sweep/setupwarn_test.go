package sweep

import (
	"slices"
	"testing"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/record"
)

func TestSetupWarnings(t *testing.T) {
	pools := func(threads int) string {
		return env.TwoPoolsWarning(&record.Env{BLASConfig: "OpenBLAS 0.3.21 Zen", Parallel: "ATen parallel backend: OpenMP"}, threads)
	}
	if pools(2) == "" {
		t.Fatal("no two-pools warning to test with")
	}
	recs := []*record.Record{
		{Warnings: []string{"noisy run: IQR/median = 21%", pools(2)}},
		{Warnings: []string{pools(2), "busy machine: other processes kept 0.90 CPUs busy"}},
		nil,
		{},
		{Warnings: []string{pools(4)}},
		{Warnings: []string{pools(2)}},
	}
	var s SetupWarnings
	for _, r := range recs {
		s.Add(r)
	}
	if want := []string{pools(2), pools(4)}; !slices.Equal(s.List, want) {
		t.Errorf("List = %q, want each set-up warning once, in order: %q", s.List, want)
	}
}
