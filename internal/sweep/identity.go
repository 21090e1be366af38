package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/perflab/perflab/internal/model"
)

// ModelSHAs returns the sha256 of every model file (not built-in name) the plan measures,
// by the name the plan gives it. A file that cannot be hashed has no entry (its
// configurations fail when they run, and nothing of an earlier run is reused for it).
func ModelSHAs(plan *Plan) map[string]string {
	out := map[string]string{}
	for _, c := range plan.Configs {
		if _, done := out[c.Model]; done {
			continue
		}
		if _, builtin := model.LookupBuiltin(c.Model); builtin || !model.LooksLikePath(c.Model) {
			continue
		}
		if sha, err := model.SHA256(c.Model); err == nil {
			out[c.Model] = sha
		} else {
			out[c.Model] = "unreadable"
		}
	}
	return out
}

// Identity is the identity of a sweep's run: the same preset settings, the same
// configurations (whatever their order), the same worker design and the same model files
// (sha256). A sidecar (Out + ".runs") is reused only by a run with the same identity: a
// model file replaced since, or another plan, starts it afresh.
func (rn *Runner) Identity(plan *Plan, shas map[string]string) string {
	var b strings.Builder
	p := rn.Preset
	fmt.Fprintf(&b, "preset %q mode %s iters %d warmup %d\n", p.Name, p.Mode, p.Iters, p.Warmup)
	fmt.Fprintf(&b, "workers %d by setting, every model in one (design 2) block %g warmup-s %g preprocess %d extra %q\n", rn.Workers, rn.BlockMs, rn.WarmupSeconds, rn.PreprocessIters, rn.ExtraArgs)
	keys := make([]string, 0, len(plan.Configs))
	for _, c := range plan.Configs {
		keys = append(keys, fmt.Sprintf("%s #%d", c.Key, c.Repeat))
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(k + "\n")
	}
	models := make([]string, 0, len(shas))
	for m := range shas {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		fmt.Fprintf(&b, "model %q %s\n", m, shas[m])
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:])
}

// ErrBusy says that another sweep is writing the same file.
var ErrBusy = errors.New("another sweep is writing it")

// lockPart takes the sidecar for this process: two sweeps writing the same file would mix
// their runs. It fails at once (ErrBusy) when another process holds it. The lock goes
// with the returned file (closing it releases the lock; so does the process's end).
// The lock is on part + ".lock" (record.AppendLine locks the sidecar itself for each
// line), removed with the sidecar at the sweep's end.
func lockPart(part string) (*os.File, error) {
	lp := part + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sidecar lock %s: %w", lp, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("sidecar lock %s is not a regular file: remove it", lp)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w (its sidecar %s is locked): wait for it to finish, or give another --out", part[:len(part)-len(".runs")], ErrBusy, part)
		}
		return nil, fmt.Errorf("lock %s: %w", part, err)
	}
	return f, nil
}
