package sweep

import (
	"context"
	"time"

	"github.com/perflab/perflab/internal/child"
)

// ResultFD is the file descriptor on which a child perflab writes its JSON result
// (child.ResultFD).
const ResultFD = child.ResultFD

// Child is what a child perflab process left behind (child.Result).
type Child = child.Result

// RunChild runs exe with args plus `--result-fd 3` (child.Run), keeping its result, and
// kills its process group when ctx ends or the timeout (0 = none) passes.
func RunChild(ctx context.Context, exe string, args []string, timeout time.Duration) Child {
	return child.Run(ctx, child.Cmd{Exe: exe, Args: append(append([]string{}, args...), child.ResultFDArgs()...), Timeout: timeout})
}
