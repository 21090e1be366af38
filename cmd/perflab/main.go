// Command perflab benchmarks PyTorch models on libtorch; see internal/cli.
package main

import (
	"os"

	"github.com/perflab/perflab/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}))
}
