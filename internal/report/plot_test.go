package report

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/perflab/perflab/internal/record"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a valid PNG: %v", path, err)
	}
	return img
}

// distinctColors counts the colours of a sample of pixels: a blank or single-colour image
// has 1.
func distinctColors(img image.Image) int {
	seen := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	return len(seen)
}

func TestPlotsWritten(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		opts  Options
	}{
		{"sweep with budget", []string{"testdata/sweep.jsonl"}, Options{Balanced, "p95", 50}},
		{"sweep p99 without budget", []string{"testdata/sweep.jsonl"}, Options{Throughput, "p99", 0}},
		{"seed records, one config per model", []string{"testdata/seed.jsonl"}, Options{Latency, "p95", 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := mustCompute(t, readRecords(t, tt.files...), tt.opts)
			dir := filepath.Join(t.TempDir(), "reports")
			files, err := WritePlots(rep, dir, "latest")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"latest_throughput_vs_" + tt.opts.Percentile + ".png", "latest_latency_by_batch.png"}
			if len(files) != len(want) {
				t.Fatalf("plots %+v, want %v", files, want)
			}
			for i, f := range files {
				if f.Path != want[i] || f.Title == "" {
					t.Errorf("plot %d = %+v, want path %s and a title", i, f, want[i])
				}
				img := decodePNG(t, filepath.Join(dir, f.Path))
				if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 300 {
					t.Errorf("%s is %dx%d, want at least 600x300", f.Path, b.Dx(), b.Dy())
				}
				if n := distinctColors(img); n < 5 {
					t.Errorf("%s has %d colours: looks blank", f.Path, n)
				}
			}
		})
	}
}

func TestPlotsNothingUsable(t *testing.T) {
	rep := mustCompute(t, []*record.Record{failed(cfg{p95: 1, tput: 1}, "boom")}, Options{Balanced, "p95", 0})
	dir := t.TempDir()
	files, err := WritePlots(rep, dir, "latest")
	if err != nil || len(files) != 0 {
		t.Fatalf("WritePlots = %v, %v; want no plot and no error", files, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files written: %v", ents)
	}
}

func TestPlotLogTicks(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks{}).Ticks(3, 120) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := []string{"5", "10", "20", "50", "100"}
	if len(labels) != len(want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	for i := range want {
		if labels[i] != want[i] {
			t.Fatalf("labels %v, want %v", labels, want)
		}
	}
}
