package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/child"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/wire"
)

// NewWorkerCmd returns the hidden `perflab sweep-worker`: perflab sweep's worker process.
// It reads a wire.Spec (JSON) on stdin and writes its results on file descriptor 3.
// The knobs of scope AtStart (the CPU knobs) come as flags: they are applied (procknob.Apply re-executes the
// process with them) before the spec is read, so the re-executed process reads it.
func NewWorkerCmd(ios IO) *cobra.Command {
	var k knobs.Knobs
	cmd := &cobra.Command{
		Use:    "sweep-worker",
		Short:  "perflab sweep's worker process (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := procknob.Apply(k.AtStart()); err != nil {
				return err
			}
			return RunWorker(ios.In, os.NewFile(child.ResultFD, "results"))
		},
	}
	knobs.AddFlags(cmd.Flags(), &k, knobs.Only(knobs.AtStart)) // what spec.Process.ProcessArgs() passes
	return cmd
}

// RunWorker runs the worker of the spec read from in, writing its messages to out.
func RunWorker(in io.Reader, out *os.File) error {
	if out == nil || !isPipe(out) {
		return fmt.Errorf("sweep-worker is perflab sweep's worker process, not a command to run by hand: it writes its results to file descriptor %d, which is not the pipe perflab sweep opens (run perflab sweep)", child.ResultFD)
	}
	var spec wire.Spec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("sweep-worker: read the worker spec on stdin: %v", err)
	}
	w := wire.NewWriter(out)
	err := bench.RunWorkerExiting(spec, w.Send)
	if cerr := out.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// isPipe says whether f's descriptor is open as a pipe, as perflab sweep opens it.
// os.NewFile does not check, and in a process started by hand the number may be any file
// the process opened meanwhile (a cgroup file read at start, say).
func isPipe(f *os.File) bool {
	var st syscall.Stat_t
	return syscall.Fstat(int(f.Fd()), &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}
