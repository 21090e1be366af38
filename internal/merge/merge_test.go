package merge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/record"
)

func line(model string, batch int, fp, preset string) string {
	return fmt.Sprintf(`{"schema_version":1,"status":"ok","model":%q,"batch_size":%d,"preset":%q,"compile":false,"threads":1,"channels_last":false,"quantize":false,"latency_p50":1,"latency_p90":1,"latency_p95":1,"latency_p99":1,"throughput_rps":1,"forward_ms_per_batch":1,"env":{"fingerprint":%q}}`, model, batch, preset, fp)
}

func write(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.jsonl", "\xef\xbb\xbf"+line("m", 1, "fp", "p"), line("m", 2, "fp", "p"))
	// b: the same first record with other spacing (a duplicate), a bad line, a failed record.
	dup := strings.ReplaceAll(line("m", 1, "fp", "p"), ",", ", ")
	failed := `{"status":"failed","error":"boom","model":"m","batch_size":4,"threads":1}`
	b := write(t, dir, "b.jsonl", dup, "{oops", "", failed, `{"model":"","batch_size":1}`)
	var out bytes.Buffer
	var bad []string
	res, err := Files(&out, []string{a, b}, func(le *record.LineError) { bad = append(bad, fmt.Sprintf("%s:%d", filepath.Base(le.File), le.Line)) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || res.Records != 3 || res.Duplicates != 1 || res.Malformed != 2 || res.Failed != 1 {
		t.Errorf("result %+v", res)
	}
	if strings.Join(bad, ",") != "b.jsonl:2,b.jsonl:5" {
		t.Errorf("malformed lines reported as %v", bad)
	}
	recs, err := record.ReadFile(write(t, dir, "out.jsonl", strings.TrimSpace(out.String())), func(le *record.LineError) { t.Error(le) })
	if err != nil || len(recs) != 3 || recs[2].Status != "failed" {
		t.Fatalf("merged %d records: %v", len(recs), err)
	}
	if strings.Contains(out.String(), "\xef\xbb\xbf") {
		t.Error("the byte order mark was copied")
	}
	if len(res.Warnings()) != 0 {
		t.Errorf("warnings %v", res.Warnings())
	}
}

func TestFilesWarnsAboutMixedEnvironments(t *testing.T) {
	dir := t.TempDir()
	a := write(t, dir, "a.jsonl", line("m", 1, "fp1", "p"))
	b := write(t, dir, "b.jsonl", line("m", 2, "fp2", "q"))
	res, err := Files(&bytes.Buffer{}, []string{a, b}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(res.Warnings(), "\n")
	if !strings.Contains(w, "2 presets") || !strings.Contains(w, "2 environment fingerprints") {
		t.Errorf("warnings %q", w)
	}
}

func TestFilesErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Files(&bytes.Buffer{}, nil, nil); err == nil {
		t.Error("no input: no error")
	}
	if _, err := Files(&bytes.Buffer{}, []string{filepath.Join(dir, "missing.jsonl")}, nil); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	junk := write(t, dir, "junk.jsonl", "junk", "more junk")
	if _, err := Files(&bytes.Buffer{}, []string{junk}, nil); err == nil || !strings.Contains(err.Error(), "no valid record") {
		t.Errorf("junk only: %v", err)
	}
}

// TestFilesTornLine: a torn record glued to a whole one is reported and the whole one kept.
func TestFilesTornLine(t *testing.T) {
	dir := t.TempDir()
	a, b := line("a", 1, "fp", "p"), line("b", 2, "fp", "p")
	p := write(t, dir, "torn.jsonl", a, b[:40]+b)
	var out bytes.Buffer
	var bad []*record.LineError
	res, err := Files(&out, []string{p}, func(le *record.LineError) { bad = append(bad, le) })
	if err != nil || res.Records != 2 || len(bad) != 1 || !strings.Contains(bad[0].Error(), "torn record") {
		t.Fatalf("res %+v, err %v, bad %v; want 2 records and one torn line", res, err, bad)
	}
	if want := a + "\n" + b + "\n"; out.String() != want {
		t.Errorf("merged\n%s\nwant\n%s", out.String(), want)
	}
}
