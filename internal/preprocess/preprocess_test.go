package preprocess

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"runtime"
	"strings"
	"testing"
)

// encodePNG losslessly encodes an image built by fill(x, y).
func encodePNG(t testing.TB, w, h int, fill func(x, y int) color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, fill(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func solid(c color.NRGBA) func(x, y int) color.NRGBA {
	return func(int, int) color.NRGBA { return c }
}

var (
	black = color.NRGBA{0, 0, 0, 255}
	white = color.NRGBA{255, 255, 255, 255}
)

// norm is the expected normalized value of 8-bit level v in channel c.
func norm(v float64, c int) float32 {
	m := [3]float64{0.485, 0.456, 0.406}
	s := [3]float64{0.229, 0.224, 0.225}
	return float32((v/255 - m[c]) / s[c])
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-5 }

func TestSyntheticJPEG(t *testing.T) {
	tests := []struct {
		w, h    int
		seed    int64
		quality int
	}{
		{640, 480, 1, 90},
		{480, 640, 2, 75},
		{1, 1, 3, 90},
		{17, 5, -7, 100},
		{224, 224, 0, 1},
	}
	for _, tc := range tests {
		a, err := SyntheticJPEG(tc.w, tc.h, tc.seed, tc.quality)
		if err != nil {
			t.Fatalf("%dx%d: %v", tc.w, tc.h, err)
		}
		b, err := SyntheticJPEG(tc.w, tc.h, tc.seed, tc.quality)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%dx%d seed %d: not deterministic", tc.w, tc.h, tc.seed)
		}
		if c, err := SyntheticJPEG(tc.w, tc.h, tc.seed+1, tc.quality); err != nil {
			t.Fatal(err)
		} else if tc.w*tc.h > 64 && bytes.Equal(a, c) {
			t.Errorf("%dx%d: seeds %d and %d give identical bytes", tc.w, tc.h, tc.seed, tc.seed+1)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(a))
		if err != nil {
			t.Fatalf("%dx%d: decode config: %v", tc.w, tc.h, err)
		}
		if cfg.Width != tc.w || cfg.Height != tc.h {
			t.Errorf("decoded size %dx%d, want %dx%d", cfg.Width, cfg.Height, tc.w, tc.h)
		}
		if _, err := jpeg.Decode(bytes.NewReader(a)); err != nil {
			t.Errorf("%dx%d: decode: %v", tc.w, tc.h, err)
		}
	}
}

// TestSyntheticJPEGNotTrivial checks the image has texture: a 640x480 at
// quality 90 must not compress below 0.5 bits per pixel (a flat gradient
// compresses to well under 0.1), and the pixel values must vary.
func TestSyntheticJPEGNotTrivial(t *testing.T) {
	data, err := SyntheticJPEG(640, 480, 1, 90)
	if err != nil {
		t.Fatal(err)
	}
	if bpp := float64(8*len(data)) / (640 * 480); bpp < 0.5 {
		t.Errorf("compresses to %.3f bits/pixel, want >= 0.5", bpp)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var sum, sum2 float64
	for y := range 480 {
		for x := range 640 {
			r, _, _, _ := img.At(x, y).RGBA()
			v := float64(r >> 8)
			sum += v
			sum2 += v * v
		}
	}
	n := 640.0 * 480
	if sd := math.Sqrt(sum2/n - (sum/n)*(sum/n)); sd < 10 {
		t.Errorf("red channel std dev %.2f, want >= 10", sd)
	}
}

func TestSyntheticJPEGErrors(t *testing.T) {
	tests := []struct {
		name          string
		w, h, quality int
		want          string
	}{
		{"zero width", 0, 10, 90, "size must be positive"},
		{"negative height", 10, -1, 90, "size must be positive"},
		{"quality 0", 10, 10, 0, "quality"},
		{"quality 101", 10, 10, 101, "quality"},
		{"too large", 1 << 20, 1 << 20, 90, "exceeds"},
	}
	for _, tc := range tests {
		_, err := SyntheticJPEG(tc.w, tc.h, 1, tc.quality)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want containing %q", tc.name, err, tc.want)
		}
	}
}

func TestApplyShape(t *testing.T) {
	tests := []struct{ w, h int }{
		{640, 480}, {480, 640}, {224, 224}, {256, 256}, {1, 1}, {3, 17}, {1000, 50},
	}
	for _, tc := range tests {
		data, err := SyntheticJPEG(tc.w, tc.h, 42, 90)
		if err != nil {
			t.Fatal(err)
		}
		out, shape, err := ImageNet.Apply(data, nil)
		if err != nil {
			t.Fatalf("%dx%d: %v", tc.w, tc.h, err)
		}
		if len(shape) != 3 || shape[0] != 3 || shape[1] != 224 || shape[2] != 224 {
			t.Errorf("%dx%d: shape %v, want [3 224 224]", tc.w, tc.h, shape)
		}
		if len(out) != 3*224*224 {
			t.Errorf("%dx%d: len %d, want %d", tc.w, tc.h, len(out), 3*224*224)
		}
		lo, hi := norm(0, 0), norm(255, 2) // global bounds over channels
		for c := range 3 {
			lo, hi = min(lo, norm(0, c)), max(hi, norm(255, c))
		}
		for i, v := range out {
			if !(v >= lo-1e-4 && v <= hi+1e-4) {
				t.Fatalf("%dx%d: out[%d] = %v outside [%v, %v]", tc.w, tc.h, i, v, lo, hi)
			}
		}
	}
}

func TestApplySolidColor(t *testing.T) {
	tests := []struct {
		name string
		c    color.NRGBA
		w, h int
	}{
		{"red", color.NRGBA{255, 0, 0, 255}, 640, 480},
		{"black", black, 300, 300},
		{"white", white, 100, 400},
		{"near mean", color.NRGBA{124, 116, 104, 255}, 37, 23},
		{"translucent drops alpha", color.NRGBA{10, 200, 30, 128}, 320, 240},
	}
	for _, tc := range tests {
		data := encodePNG(t, tc.w, tc.h, solid(tc.c))
		out, _, err := ImageNet.Apply(data, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := [3]float32{norm(float64(tc.c.R), 0), norm(float64(tc.c.G), 1), norm(float64(tc.c.B), 2)}
		for c := range 3 {
			for i, v := range out[c*224*224 : (c+1)*224*224] {
				if !near(v, want[c]) {
					t.Fatalf("%s: channel %d pixel %d = %v, want %v", tc.name, c, i, v, want[c])
				}
			}
		}
	}
	// Hand-computed spot check, independent of norm().
	data := encodePNG(t, 8, 8, solid(color.NRGBA{255, 0, 0, 255}))
	out, _, err := ImageNet.Apply(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range [3]float32{(1 - 0.485) / 0.229, -0.456 / 0.224, -0.406 / 0.225} {
		if got := out[c*224*224]; !near(got, want) {
			t.Errorf("solid red channel %d = %v, want %v", c, got, want)
		}
	}
	// The near-mean colour normalizes to about zero.
	data = encodePNG(t, 8, 8, solid(color.NRGBA{124, 116, 104, 255}))
	if out, _, err = ImageNet.Apply(data, nil); err != nil {
		t.Fatal(err)
	}
	for c := range 3 {
		if v := out[c*224*224+1000]; math.Abs(float64(v)) > 0.01 {
			t.Errorf("mean colour channel %d = %v, want ~0", c, v)
		}
	}
}

// TestApplyEdge checks a black/white step edge lands at the column (or row)
// predicted by hand from the resize scale and the center-crop offset, and,
// when upscaling, that the blend across the edge has the bilinear weights.
func TestApplyEdge(t *testing.T) {
	// profile is the expected fraction of white along the crop axis, from
	// index from; everything before is black, everything after is white.
	tests := []struct {
		name     string
		w, h     int
		edge     int  // first white source column (or row if vertical)
		vertical bool // edge splits top (black) from bottom (white)
		from     int
		profile  []float32
	}{
		// Resize is identity (512x256); crop left = (512-224)/2 = 144;
		// edge at 256 -> crop column 112.
		{"identity", 512, 256, 256, false, 112, []float32{1}},
		// 1024x512 -> 512x256, scale 2: output 255 samples src 510.5
		// (cols 510,511 black), output 256 samples 512.5 (white).
		{"downscale x2", 1024, 512, 512, false, 112, []float32{1}},
		// 128x64 -> 512x256, scale 1/4: src = (d+0.5)/4 - 0.5, so resized
		// columns 254..257 sample src 63.125, 63.375, 63.625, 63.875,
		// between black col 63 and white col 64 -> crop columns 110..113.
		{"upscale x4", 128, 64, 64, false, 110, []float32{0.125, 0.375, 0.625, 0.875, 1}},
		// 682x512 -> 341x256 exactly; crop left = round(58.5) = 58 (half to
		// even, as Python's round); edge 342 -> resized 171 -> column 113.
		{"half-even crop offset", 682, 512, 342, false, 113, []float32{1}},
		// Portrait: 256x512 -> identity; crop top = 144; edge row 256 -> 112.
		{"portrait rows", 256, 512, 256, true, 112, []float32{1}},
		// Portrait upscale: 64x128 -> 256x512, same blend as "upscale x4".
		{"portrait upscale x4", 64, 128, 64, true, 110, []float32{0.125, 0.375, 0.625, 0.875, 1}},
	}
	for _, tc := range tests {
		data := encodePNG(t, tc.w, tc.h, func(x, y int) color.NRGBA {
			p := x
			if tc.vertical {
				p = y
			}
			if p < tc.edge {
				return black
			}
			return white
		})
		out, _, err := ImageNet.Apply(data, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for c := range 3 {
			for k := range 224 {
				var frac float32
				switch {
				case k < tc.from:
					frac = 0
				case k-tc.from < len(tc.profile):
					frac = tc.profile[k-tc.from]
				default:
					frac = 1
				}
				want := norm(float64(frac)*255, c)
				// Check along the edge axis at a few positions across it.
				for _, j := range []int{0, 111, 223} {
					idx := c*224*224 + j*224 + k // row j, column k
					if tc.vertical {
						idx = c*224*224 + k*224 + j // row k, column j
					}
					if got := out[idx]; !near(got, want) {
						t.Fatalf("%s: channel %d, index %d along edge axis (at %d): got %v, want %v (white fraction %v)",
							tc.name, c, k, j, got, want, frac)
					}
				}
			}
		}
	}
}

func TestResizedSize(t *testing.T) {
	tests := []struct{ w, h, rw, rh int }{
		{640, 480, 341, 256}, // landscape: height is the shorter side
		{480, 640, 256, 341}, // portrait: width is the shorter side
		{100, 100, 256, 256},
		{1, 3, 256, 768}, // tiny images upscale
		{500, 375, 341, 256},
		{1000, 50, 5120, 256},
	}
	for _, tc := range tests {
		rw, rh := resizedSize(tc.w, tc.h, 256)
		if rw != tc.rw || rh != tc.rh {
			t.Errorf("resizedSize(%d, %d) = %dx%d, want %dx%d", tc.w, tc.h, rw, rh, tc.rw, tc.rh)
		}
	}
}

func TestCropOffset(t *testing.T) {
	tests := []struct{ size, want int }{
		{256, 16}, {341, 58}, {343, 60}, {224, 0}, {225, 0}, {227, 2},
	}
	for _, tc := range tests {
		if got := cropOffset(tc.size, 224); got != tc.want {
			t.Errorf("cropOffset(%d, 224) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

// TestApplyAspect checks landscape and portrait images are resized by their
// shorter side: a vertical stripe of known width in the source keeps its
// width relative to the shorter side.
func TestApplyAspect(t *testing.T) {
	// Both images are scaled by exactly 256/128 = 2. A white band of source
	// width 16 centred on the long axis becomes 32 wide in the crop.
	tests := []struct {
		name     string
		w, h     int
		vertical bool
	}{
		{"landscape", 256, 128, false},
		{"portrait", 128, 256, true},
	}
	for _, tc := range tests {
		data := encodePNG(t, tc.w, tc.h, func(x, y int) color.NRGBA {
			p := x
			if tc.vertical {
				p = y
			}
			if p >= 120 && p < 136 {
				return white
			}
			return black
		})
		out, _, err := ImageNet.Apply(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Resized long side 512, crop offset 144; band covers resized
		// [240, 272) but is blended over 1 px either side -> fully white
		// in crop indices [97, 127), partially at 96 and 127.
		white := 0
		for k := range 224 {
			idx := 100*224 + k
			if tc.vertical {
				idx = k*224 + 100
			}
			if near(out[idx], norm(255, 0)) {
				white++
			}
		}
		if white != 30 {
			t.Errorf("%s: %d fully white samples across band, want 30", tc.name, white)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	good, err := SyntheticJPEG(64, 48, 1, 90)
	if err != nil {
		t.Fatal(err)
	}
	goodPNG := encodePNG(t, 4, 4, solid(white))
	tests := []struct {
		name string
		tr   Transform
		data []byte
		want string
	}{
		{"nil", ImageNet, nil, "decode image: empty input"},
		{"text", ImageNet, []byte("hello, world"), "decode image: not a JPEG or PNG"},
		{"gif", ImageNet, []byte("GIF89a\x01\x00\x01\x00"), "decode image: not a JPEG or PNG"},
		{"truncated jpeg", ImageNet, good[:len(good)/3], "decode image: jpeg:"},
		{"jpeg magic only", ImageNet, []byte{0xff, 0xd8, 0, 0}, "decode image: jpeg:"},
		{"corrupt png", ImageNet, append(append([]byte{}, goodPNG[:8]...), "garbage"...), "decode image: png:"},
		{"resize < crop", Transform{Resize: 100, Crop: 224, Std: ImageNet.Std}, good, "resize 100 is smaller than crop 224"},
		{"zero crop", Transform{Resize: 256, Std: ImageNet.Std}, good, "crop size must be positive"},
		{"zero std", Transform{Resize: 256, Crop: 224}, good, "std[0] must be positive"},
	}
	for _, tc := range tests {
		out, shape, err := tc.tr.Apply(tc.data, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tc.name, err)
		}
		if out != nil || shape != nil {
			t.Errorf("%s: non-nil result with error", tc.name)
		}
	}
}

func TestApplyDstReuse(t *testing.T) {
	data, err := SyntheticJPEG(320, 240, 5, 90)
	if err != nil {
		t.Fatal(err)
	}
	n := 3 * 224 * 224
	ref, _, err := ImageNet.Apply(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dst   []float32
		reuse bool
	}{
		{"exact capacity", make([]float32, n), true},
		{"zero length, capacity", make([]float32, 0, n), true},
		{"larger capacity", make([]float32, 5, n+100), true},
		{"too small", make([]float32, n-1), false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		for i := range tc.dst {
			tc.dst[i] = float32(math.NaN())
		}
		out, _, err := ImageNet.Apply(data, tc.dst)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != n {
			t.Errorf("%s: len %d, want %d", tc.name, len(out), n)
		}
		shared := cap(tc.dst) > 0 && &out[0] == &tc.dst[:1][0]
		if shared != tc.reuse {
			t.Errorf("%s: shares dst backing array = %v, want %v", tc.name, shared, tc.reuse)
		}
		for i := range out {
			if out[i] != ref[i] {
				t.Fatalf("%s: out[%d] = %v, want %v (result depends on dst)", tc.name, i, out[i], ref[i])
			}
		}
	}
}

// TestApplyDstNoAlloc checks the output is not allocated when dst suffices:
// with a large crop the output (3*1024*1024*4 = 12 MiB) dwarfs everything
// else Apply allocates for a tiny PNG, so bytes allocated per run tell.
func TestApplyDstNoAlloc(t *testing.T) {
	tr := Transform{Resize: 1024, Crop: 1024, Mean: ImageNet.Mean, Std: ImageNet.Std}
	data := encodePNG(t, 2, 2, solid(white))
	dst := make([]float32, 3*1024*1024)
	measure := func(d []float32) float64 {
		var ms1, ms2 runtime.MemStats
		runtime.ReadMemStats(&ms1)
		for range 3 {
			if _, _, err := tr.Apply(data, d); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&ms2)
		return float64(ms2.TotalAlloc-ms1.TotalAlloc) / 3
	}
	measure(dst) // warm the scratch pool
	if got := measure(dst); got > 1<<20 {
		t.Errorf("with dst: %.0f bytes allocated per Apply, want < 1 MiB", got)
	}
	if got := measure(nil); got < 12<<20 {
		t.Errorf("without dst: %.0f bytes allocated per Apply, want >= 12 MiB (test is not sensitive)", got)
	}
}

func TestApplyJPEGCloseToPNG(t *testing.T) {
	// The same smooth picture via JPEG (q100) and PNG must agree closely,
	// exercising the YCbCr fast path against the NRGBA one.
	fill := func(x, y int) color.NRGBA {
		return color.NRGBA{uint8(x), uint8(y), uint8((x + y) / 2), 255}
	}
	pngData := encodePNG(t, 256, 256, fill)
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []int{100, 90} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			t.Fatal(err)
		}
		a, _, err := ImageNet.Apply(pngData, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := ImageNet.Apply(buf.Bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for i := range a {
			sum += math.Abs(float64(a[i] - b[i]))
		}
		// Mean abs diff in normalized units; 0.05 is ~3 grey levels.
		if mad := sum / float64(len(a)); mad > 0.05 {
			t.Errorf("q%d: mean abs diff JPEG vs PNG = %.4f, want <= 0.05", q, mad)
		}
	}
}

func TestTime(t *testing.T) {
	data, err := SyntheticJPEG(64, 48, 1, 90)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		iters   int
		wantErr string
	}{
		{"ok", data, 5, ""},
		{"one", data, 1, ""},
		{"zero iters", data, 0, "iters must be at least 1"},
		{"bad data", []byte("nope"), 3, "not a JPEG or PNG"},
	}
	for _, tc := range tests {
		tm, err := ImageNet.Time(tc.data, tc.iters)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err = %v, want containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tm.Iters != tc.iters || len(tm.SamplesMs) != tc.iters {
			t.Errorf("%s: Iters %d, %d samples, want %d", tc.name, tm.Iters, len(tm.SamplesMs), tc.iters)
		}
		for i, s := range tm.SamplesMs {
			if !(s > 0) || math.IsInf(s, 0) {
				t.Errorf("%s: sample %d = %v ms, want positive", tc.name, i, s)
			}
		}
	}
}

func BenchmarkApply640x480(b *testing.B) {
	data, err := SyntheticJPEG(640, 480, 1, 90)
	if err != nil {
		b.Fatal(err)
	}
	dst, _, err := ImageNet.Apply(data, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if dst, _, err = ImageNet.Apply(data, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/op")
}

// BenchmarkDecode640x480 isolates the JPEG decode share of Apply.
func BenchmarkDecode640x480(b *testing.B) {
	data, err := SyntheticJPEG(640, 480, 1, 90)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestToRGBFastPaths checks every fast path of toRGB against the generic
// At()-based conversion, on odd-sized images, sub-images with odd origins
// and windows not starting at the image origin.
func TestToRGBFastPaths(t *testing.T) {
	rect := image.Rect(0, 0, 37, 29)
	rnd := func(i int) uint8 { return uint8(splitmix64(uint64(i)) >> 56) }
	var imgs []struct {
		name string
		img  image.Image
	}
	add := func(name string, img image.Image) {
		imgs = append(imgs, struct {
			name string
			img  image.Image
		}{name, img})
	}
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		m := image.NewYCbCr(rect, ratio)
		for i := range m.Y {
			m.Y[i] = rnd(i)
		}
		for i := range m.Cb {
			m.Cb[i], m.Cr[i] = rnd(i+1e6), rnd(i+2e6)
		}
		add("ycbcr "+ratio.String(), m)
		add("ycbcr sub "+ratio.String(), m.SubImage(image.Rect(3, 5, 30, 22)))
	}
	gray := image.NewGray(rect)
	nrgba := image.NewNRGBA(rect)
	rgba := image.NewRGBA(rect)
	rgbaT := image.NewRGBA(rect)
	cmyk := image.NewCMYK(rect)
	for i := range gray.Pix {
		gray.Pix[i] = rnd(i)
	}
	for i := range nrgba.Pix {
		nrgba.Pix[i], rgba.Pix[i], cmyk.Pix[i] = rnd(i), rnd(i), rnd(i)
		if i%4 == 3 {
			rgba.Pix[i] = 255
		}
	}
	for y := range 29 {
		for x := range 37 {
			rgbaT.Set(x, y, color.NRGBA{rnd(3 * (y*37 + x)), rnd(3*(y*37+x) + 1), 7, 100})
		}
	}
	add("gray", gray)
	add("gray sub", gray.SubImage(image.Rect(3, 5, 30, 22)))
	add("nrgba", nrgba)
	add("nrgba sub", nrgba.SubImage(image.Rect(3, 5, 30, 22)))
	add("rgba opaque", rgba)
	add("rgba translucent", rgbaT)
	add("cmyk", cmyk)

	for _, tc := range imgs {
		b := tc.img.Bounds()
		for _, r := range []image.Rectangle{b, image.Rect(b.Min.X+1, b.Min.Y+2, b.Max.X-2, b.Max.Y-1)} {
			got := make([]uint8, 3*r.Dx()*r.Dy())
			want := make([]uint8, len(got))
			toRGB(tc.img, r, got)
			generic(tc.img, r, want)
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("%s window %v: byte %d = %d, want %d", tc.name, r, i, got[i], want[i])
			}
		}
	}
	// Alpha is dropped, not premultiplied (PIL convert("RGB")), also on the
	// generic path (a paletted PNG with a translucent entry).
	pal := image.NewPaletted(image.Rect(0, 0, 1, 1), color.Palette{color.NRGBA{10, 200, 7, 100}})
	out := make([]uint8, 3)
	toRGB(pal, pal.Bounds(), out)
	if out[0] != 10 || out[1] != 200 || out[2] != 7 {
		t.Errorf("translucent paletted pixel = %v, want [10 200 7] (alpha dropped, not premultiplied)", out)
	}
}

func firstDiff(a, b []uint8) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// BenchmarkResample640x480 isolates the non-decode share of Apply: colour
// conversion of the touched window, bilinear resize of the crop, normalize.
func BenchmarkResample640x480(b *testing.B) {
	data, err := SyntheticJPEG(640, 480, 1, 90)
	if err != nil {
		b.Fatal(err)
	}
	img, err := decode(data)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]float32, 3*224*224)
	s := new(scratch)
	b.ReportAllocs()
	for b.Loop() {
		ImageNet.resample(img, out, s)
	}
}

// TestDecodeRefusesHugeDimensions: a small JPEG whose header claims 65500x65500 pixels is
// refused from its header, before 16 GiB are allocated.
func TestDecodeRefusesHugeDimensions(t *testing.T) {
	data, err := SyntheticJPEG(16, 16, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	// The SOF0 marker (FF C0): length (2), precision (1), height (2), width (2).
	i := bytes.Index(data, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker in the synthetic JPEG")
	}
	data[i+5], data[i+6], data[i+7], data[i+8] = 0xff, 0xdc, 0xff, 0xdc // 65500 x 65500
	_, err = decode(data)
	if err == nil || !strings.Contains(err.Error(), "65500x65500 pixels is more than the 64 megapixels") {
		t.Fatalf("decode of a %d-byte JPEG claiming 65500x65500: %v", len(data), err)
	}
}
