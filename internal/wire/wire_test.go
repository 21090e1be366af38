package wire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	in := []Message{{Prepare: "k1"}, {Measuring: true}, {Key: "k1", Record: &record.Record{Knobs: knobs.Knobs{Model: "m"}, LatencyP50: 1.5}},
		{Preprocess: &record.Preprocess{Image: "x", Iters: 3}}}
	for _, m := range in {
		if err := w.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(b.String(), "\n"); n != len(in) {
		t.Fatalf("%d lines for %d messages", n, len(in))
	}
	var out []Message
	if err := Read(&b, func(m Message) { out = append(out, m) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 4 || out[0].Prepare != "k1" || !out[1].Measuring || out[2].Record.LatencyP50 != 1.5 || out[3].Preprocess.Iters != 3 {
		t.Errorf("read back %+v", out)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"malformed", "{\"prepare\":\"a\"}\n{junk\n", "worker result line 2"},
		{"oversized", strings.Repeat("x", MaxLine+10), "token too long"},
	}
	for _, tt := range tests {
		n := 0
		err := Read(strings.NewReader(tt.in), func(Message) { n++ })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}
