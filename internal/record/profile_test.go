package record

import (
	"reflect"
	"strings"
	"testing"
)

func TestProfileRoundTripCompact(t *testing.T) {
	r := fullRecord()
	r.Profile = &Profile{Forwards: 30, ForwardMs: 3.5, OpsMs: 3.1, BetweenMs: 0.4, Trace: "results/a.trace.json",
		Instrumented: "prim::mkldnn_convolution x20",
		Ops:          []ProfileOp{{"aten::conv2d", "[1,3,224,224] [64,3,7,7]", 1, 1.25}, {"aten::add_", "", 0.5, 0.001}}}
	line, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(line), `"ops":[["aten::conv2d","[1,3,224,224] [64,3,7,7]",1,1.25],["aten::add_","",0.5,0.001]]`) {
		t.Errorf("ops are not in the compact form:\n%s", line)
	}
	if !strings.Contains(string(line), `"instrumented":"prim::mkldnn_convolution x20"`) {
		t.Errorf("no instrumented nodes in:\n%s", line)
	}
	got, err := Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Profile, r.Profile) {
		t.Errorf("profile after the round trip:\n%+v\nwant\n%+v", got.Profile, r.Profile)
	}
}

func TestProfileOldAndBad(t *testing.T) {
	got, err := Parse([]byte(`{"model":"m","batch_size":1,"threads":1,"latency_p50":1,"latency_p90":1,"latency_p95":1,"latency_p99":1,"throughput_rps":1,"forward_ms_per_batch":1}`))
	if err != nil {
		t.Fatalf("a record without a profile: %v", err)
	}
	if got.Profile != nil {
		t.Errorf("a record without a profile reads one: %+v", got.Profile)
	}
	for _, bad := range []string{`[["a","s",1]]`, `[["a","s",-1,2]]`, `[{"op":"a"}]`, `[["a",1,1,2]]`} {
		_, err := Parse([]byte(`{"model":"m","profile":{"forwards":1,"ops":` + bad + `}}`))
		if err == nil || !strings.Contains(err.Error(), "profile op") {
			t.Errorf("ops %s: err %v, want a profile op error", bad, err)
		}
	}
}
