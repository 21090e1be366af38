package cli

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/merge"
	"github.com/perflab/perflab/internal/record"
)

// MergeOptions are the inputs of `perflab merge`.
type MergeOptions struct {
	IO     IO
	Out    string
	Inputs []string
}

// NewMergeCmd returns `perflab merge`. runF replaces RunMerge in tests.
func NewMergeCmd(ios IO, runF func(*MergeOptions) error) *cobra.Command {
	opts := &MergeOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "merge --out ALL.jsonl SHARD.jsonl...",
		Short: "Merge JSONL results (e.g. the shards of a sweep) into one file",
		Long: `Concatenate JSONL result files into one, for report, gate and baseline update: the way
to run a large sweep on several machines (perflab sweep --shard I/N on each, then merge).
Every line is validated as a record; a malformed line is reported on stderr with its file
and line number and skipped. Exact duplicate records (a shard given twice) are written once.
Lines are copied unchanged. --out is replaced (written atomically); it may not be one of
the inputs. A missing input, or no valid record at all, is an error (exit 2).

` + exitCodesHelp,
		Example: `  perflab merge --out results/all.jsonl results/shard1.jsonl results/shard2.jsonl results/shard3.jsonl
  perflab sweep --preset cpu_vision --shard 2/4 --out shard2.jsonl   # on each of 4 machines`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("merge: name the JSONL files to merge, e.g. perflab merge --out all.jsonl shard1.jsonl shard2.jsonl")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Inputs = args
			if runF != nil {
				return runF(opts)
			}
			return RunMerge(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Out, "out", "", "merged JSONL file to write (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// RunMerge merges the inputs into --out.
func RunMerge(opts *MergeOptions) error {
	if opts.Out == "" {
		return errors.New("--out is required: the merged JSONL file to write")
	}
	outAbs, _ := filepath.Abs(opts.Out)
	for _, in := range opts.Inputs {
		if inAbs, _ := filepath.Abs(in); inAbs == outAbs {
			return fmt.Errorf("--out %s is also an input: write the merge to a new file", opts.Out)
		}
	}
	// Under --out's lock: concurrent merges into one file take turns, and none reads an
	// input another is replacing.
	unlock, err := atomicfile.Lock(opts.Out)
	if err != nil {
		return err
	}
	defer unlock()
	var buf bytes.Buffer
	res, err := merge.Files(&buf, opts.Inputs, func(le *record.LineError) { fmt.Fprintln(opts.IO.ErrOut, "warning:", le) })
	if err != nil {
		return err
	}
	for _, w := range res.Warnings() {
		fmt.Fprintln(opts.IO.ErrOut, "warning:", w)
	}
	if err := atomicfile.Write(opts.Out, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "merged %d records from %d files (%d duplicates dropped, %d malformed lines skipped, %d failed configurations kept)\n",
		res.Records, res.Files, res.Duplicates, res.Malformed, res.Failed)
	fmt.Fprintln(opts.IO.Out, opts.Out)
	return nil
}
