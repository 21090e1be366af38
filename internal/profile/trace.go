package profile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/perflab/perflab/internal/atomicfile"
)

// traceEvent is one complete event ("ph": "X") of the Chrome trace event format, which
// Perfetto (ui.perfetto.dev) and chrome://tracing open. Times are microseconds.
type traceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`
	Dur  float64        `json:"dur"`
	Pid  int            `json:"pid"`
	Tid  uint64         `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

type traceMeta struct {
	Name string         `json:"name"`
	Ph   string         `json:"ph"`
	Pid  int            `json:"pid"`
	Tid  uint64         `json:"tid"`
	Args map[string]any `json:"args"`
}

// WriteTrace writes the passes' events as one Chrome trace (JSON object with traceEvents):
// each pass is a process named by its label (e.g. "base", "head"), one track per thread.
func WriteTrace(w io.Writer, labels []string, passes []Pass) error {
	bw := bufio.NewWriter(w)
	if _, err := bw.WriteString(`{"displayTimeUnit":"ms","traceEvents":[`); err != nil {
		return err
	}
	first := true
	emit := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !first {
			bw.WriteByte(',')
		}
		first = false
		bw.WriteString("\n")
		_, err = bw.Write(b)
		return err
	}
	for i, p := range passes {
		pid := i + 1
		label := fmt.Sprintf("pass %d", pid)
		if i < len(labels) {
			label = labels[i]
		}
		if err := emit(traceMeta{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": label}}); err != nil {
			return err
		}
		for _, e := range p.Events {
			te := traceEvent{Name: e.Name, Cat: "cpu_op", Ph: "X", Ts: float64(e.StartNs) / 1e3, Dur: float64(e.DurNs) / 1e3, Pid: pid, Tid: e.Thread}
			if e.Scope || e.Name == ForwardScope {
				te.Cat = "scope"
			}
			if len(e.Shapes) > 0 {
				te.Args = map[string]any{"Input Dims": e.Shapes}
			}
			if err := emit(te); err != nil {
				return err
			}
		}
	}
	if _, err := bw.WriteString("\n]}\n"); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteTraceFile writes a trace file (replacing it whole).
func WriteTraceFile(path string, labels []string, passes []Pass) error {
	var b bytes.Buffer
	if err := WriteTrace(&b, labels, passes); err != nil {
		return err
	}
	return atomicfile.Write(path, b.Bytes())
}

// CheckTrace reports whether a file is a Chrome trace a viewer can open: a JSON object
// whose traceEvents hold at least one complete event.
func CheckTrace(path string) (events int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var t struct {
		TraceEvents []struct {
			Ph string `json:"ph"`
		} `json:"traceEvents"`
	}
	if err := json.NewDecoder(f).Decode(&t); err != nil {
		return 0, fmt.Errorf("%s: not a JSON trace: %w", path, err)
	}
	for _, e := range t.TraceEvents {
		if e.Ph == "X" {
			events++
		}
	}
	if events == 0 {
		return 0, fmt.Errorf("%s: no complete events in traceEvents", path)
	}
	return events, nil
}
