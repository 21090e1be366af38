package bench

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/torch"
)

// The reference workload is timed in blocks of ReferenceCalls calls for ReferenceWindow
// right before the timed loop and as long right after it (at least ReferenceBlocks blocks
// each side): never inside the loop, whose code and samples it leaves untouched. The window
// is long enough to average over a neighbour's bursts on a shared core (measured here, at
// load ~5 on 2 cores: 3 blocks of 20 ms each side had a log error of 14-38% between before
// and after), short next to a timed loop of seconds. A sweep's worker uses WorkerReferenceWindow.
const (
	ReferenceBlocks       = 3
	ReferenceCalls        = 8
	ReferenceWindow       = 250 * time.Millisecond
	WorkerReferenceWindow = 100 * time.Millisecond
)

// referenceBlocks times blocks of the reference workload on the calling OS thread (its
// libtorch thread settings), at least ReferenceBlocks of them and until window has passed,
// and returns each block's mean per-call time in ms: the mean, not the median, so that time
// lost to other processes (preemption on a shared core) counts in proportion, as it does in
// the timed loop's latencies and throughput.
func referenceBlocks(window time.Duration) ([]float64, error) {
	ns := make([]int64, ReferenceCalls)
	var out []float64
	start := time.Now()
	for len(out) < ReferenceBlocks || time.Since(start) < window {
		if _, err := torch.ReferenceTimed(ns); err != nil {
			return nil, fmt.Errorf("reference workload failed: %s", torchMsg(err))
		}
		var sum int64
		for _, v := range ns {
			sum += v
		}
		out = append(out, float64(sum)/1e6/float64(len(ns)))
		if len(out) >= 1000 {
			break
		}
	}
	return out, nil
}

// summariseReference makes the record's reference from the blocks timed before and after
// the loop. Its log standard error is the larger of the blocks' spread / sqrt(blocks) and
// half the log difference between the before and after means: the timed loop ran in
// between, at a speed the two bracket.
func summariseReference(before, after []float64) *record.Reference {
	blocks := append(slices.Clone(before), after...)
	logs := make([]float64, len(blocks))
	for i, b := range blocks {
		if !(b > 0) {
			return nil
		}
		logs[i] = math.Log(b)
	}
	mean, sd := meanSD(logs)
	se := sd / math.Sqrt(float64(len(logs)))
	if len(before) > 0 && len(after) > 0 {
		mb, _ := meanSD(logs[:len(before)])
		ma, _ := meanSD(logs[len(before):])
		se = math.Max(se, math.Abs(ma-mb)/2)
	}
	return &record.Reference{Workload: torch.ReferenceWorkload, Ms: math.Exp(mean), LogSE: se, BlocksMs: blocks, Before: len(before), Calls: ReferenceCalls}
}

func meanSD(x []float64) (mean, sd float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		sd += (v - mean) * (v - mean)
	}
	if len(x) > 1 {
		sd = math.Sqrt(sd / float64(len(x)-1))
	}
	return mean, sd
}
