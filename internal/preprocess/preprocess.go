// Package preprocess implements the classic torchvision ImageNet evaluation
// transform (decode, Resize(256), CenterCrop(224), ToTensor, Normalize) in
// pure Go, so that perflab can time preprocessing separately from inference.
// It also generates deterministic synthetic test JPEGs, since no real images
// can be downloaded.
//
// Fidelity to torchvision, stated once:
//
//   - Resize output size follows torchvision: the shorter side becomes
//     Resize and the longer side is int(Resize*long/short) (truncated).
//   - Resampling is bilinear with half-pixel centres and edge clamping,
//     exactly PyTorch's interpolate(mode="bilinear", align_corners=False)
//     i.e. torchvision's antialias=False. When downscaling this differs from
//     torchvision's default (antialias=True, and always for PIL inputs),
//     which low-pass filters first; upscaling is identical.
//   - Interpolated values stay in float32; they are not rounded back to
//     uint8 as a PIL round trip would (difference at most 0.5/255).
//   - Center-crop offsets use int(round((size-crop)/2)) with Python's
//     round-half-to-even, as torchvision does.
//   - Alpha is dropped (as PIL's convert("RGB") does); grayscale is
//     replicated to three channels.
//
// Only the crop window of the resized image is ever computed, and only the
// source pixels it touches are converted to RGB.
package preprocess

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"sync"
	"time"
)

// Transform describes the eval transform.
type Transform struct {
	Resize    int // shorter side after resize, 256
	Crop      int // center crop, 224
	Mean, Std [3]float32
}

// ImageNet is the torchvision ImageNet eval transform (256, 224, mean/std).
var ImageNet = Transform{
	Resize: 256,
	Crop:   224,
	Mean:   [3]float32{0.485, 0.456, 0.406},
	Std:    [3]float32{0.229, 0.224, 0.225},
}

// Timing is the result of timing repeated preprocessing of one image.
type Timing struct {
	Iters     int
	SamplesMs []float64
}

var (
	jpegMagic = []byte{0xff, 0xd8}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// validate reports whether t is usable.
func (t Transform) validate() error {
	if t.Crop <= 0 {
		return fmt.Errorf("transform: crop size must be positive, got %d", t.Crop)
	}
	if t.Resize < t.Crop {
		return fmt.Errorf("transform: resize %d is smaller than crop %d", t.Resize, t.Crop)
	}
	for c, s := range t.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("transform: std[%d] must be positive and finite, got %v", c, s)
		}
	}
	return nil
}

// MaxPixels bounds the images decode accepts (its header is read first): a 300-byte
// JPEG may claim 65500x65500 pixels, 16 GiB once decoded.
const MaxPixels = 64 << 20

// checkDimensions reads the image header and refuses more than MaxPixels.
func checkDimensions(data []byte) error {
	var cfg image.Config
	var err error
	format := "jpeg"
	if bytes.HasPrefix(data, pngMagic) {
		format = "png"
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	} else {
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return fmt.Errorf("decode image: %s: %v", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxPixels {
		return fmt.Errorf("decode image: %dx%d pixels is more than the %d megapixels perflab decodes: give a smaller image", cfg.Width, cfg.Height, MaxPixels>>20)
	}
	return nil
}

// decode decodes a JPEG or PNG, chosen by its magic bytes.
func decode(data []byte) (image.Image, error) {
	var (
		img image.Image
		err error
	)
	switch {
	case len(data) == 0:
		return nil, errors.New("decode image: empty input")
	case bytes.HasPrefix(data, jpegMagic), bytes.HasPrefix(data, pngMagic):
		if err := checkDimensions(data); err != nil {
			return nil, err
		}
	}
	switch {
	case bytes.HasPrefix(data, jpegMagic):
		img, err = jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode image: jpeg: %v", err)
		}
	case bytes.HasPrefix(data, pngMagic):
		img, err = png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode image: png: %v", err)
		}
	default:
		n := min(len(data), 8)
		return nil, fmt.Errorf("decode image: not a JPEG or PNG: leading bytes %q", data[:n])
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("decode image: empty image %dx%d", b.Dx(), b.Dy())
	}
	return img, nil
}

// resizedSize returns torchvision's Resize(short) output size for a w x h
// image: the shorter side becomes short, the longer int(short*long/shorter).
func resizedSize(w, h, short int) (rw, rh int) {
	if w <= h {
		return short, short * h / w
	}
	return short * w / h, short
}

// cropOffset is torchvision's int(round((size-crop)/2)), round half to even.
func cropOffset(size, crop int) int {
	return int(math.RoundToEven(float64(size-crop) / 2))
}

// taps holds, for each output coordinate, the two source coordinates and the
// weight of the second one.
type taps struct {
	i0, i1 []int32
	w      []float32
}

// bilinearTaps computes PyTorch align_corners=False source taps for output
// coordinates off..off+n-1 of a resize from in to out samples.
func bilinearTaps(t *taps, in, out, off, n int) {
	t.i0 = grow(t.i0, n)
	t.i1 = grow(t.i1, n)
	t.w = grow(t.w, n)
	scale := float64(in) / float64(out)
	for k := range n {
		src := scale*(float64(off+k)+0.5) - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(src)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		t.i0[k], t.i1[k], t.w[k] = int32(i0), int32(i1), float32(src-float64(i0))
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// scratch is per-call working memory, pooled across calls.
type scratch struct {
	rgb    []uint8 // packed RGB of the source window
	xt, yt taps
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Apply decodes a JPEG (or PNG) from data and returns a CHW float32 tensor
// of length 3*Crop*Crop, written into dst if it has that capacity, and its
// shape [3, Crop, Crop].
func (t Transform) Apply(data []byte, dst []float32) ([]float32, []int64, error) {
	if err := t.validate(); err != nil {
		return nil, nil, err
	}
	img, err := decode(data)
	if err != nil {
		return nil, nil, err
	}
	out := grow(dst, 3*t.Crop*t.Crop)
	s := scratchPool.Get().(*scratch)
	t.resample(img, out, s)
	scratchPool.Put(s)
	return out, []int64{3, int64(t.Crop), int64(t.Crop)}, nil
}

// resample resizes img (shorter side -> t.Resize), center-crops, normalizes
// and writes CHW planes into out, computing only the crop window.
func (t Transform) resample(img image.Image, out []float32, s *scratch) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rw, rh := resizedSize(w, h, t.Resize)
	left, top := cropOffset(rw, t.Crop), cropOffset(rh, t.Crop)
	c := t.Crop
	bilinearTaps(&s.xt, w, rw, left, c)
	bilinearTaps(&s.yt, h, rh, top, c)

	// Source window touched by the taps (taps are monotonic).
	x0, x1 := int(s.xt.i0[0]), int(s.xt.i1[c-1])
	y0, y1 := int(s.yt.i0[0]), int(s.yt.i1[c-1])
	ww, wh := x1-x0+1, y1-y0+1
	s.rgb = grow(s.rgb, 3*ww*wh)
	toRGB(img, image.Rect(b.Min.X+x0, b.Min.Y+y0, b.Min.X+x1+1, b.Min.Y+y1+1), s.rgb)

	// Column taps as byte offsets into a window row.
	xo0, xo1, xw := s.xt.i0, s.xt.i1, s.xt.w
	for k := range c {
		xo0[k] = 3 * (xo0[k] - int32(x0))
		xo1[k] = 3 * (xo1[k] - int32(x0))
	}

	// out = (v/255 - mean)/std = v*a + b
	var a, bias [3]float32
	for ch := range 3 {
		a[ch] = 1 / (255 * t.Std[ch])
		bias[ch] = -t.Mean[ch] / t.Std[ch]
	}
	plane := c * c
	r, g, bl := out[:plane], out[plane:2*plane], out[2*plane:3*plane]
	stride := 3 * ww
	for oy := range c {
		row0 := s.rgb[(int(s.yt.i0[oy])-y0)*stride:][:stride]
		row1 := s.rgb[(int(s.yt.i1[oy])-y0)*stride:][:stride]
		wy := s.yt.w[oy]
		wy0 := 1 - wy
		ro, go_, bo := r[oy*c:][:c], g[oy*c:][:c], bl[oy*c:][:c]
		for ox := range c {
			p, q := int(xo0[ox]), int(xo1[ox])
			wx := xw[ox]
			wx0 := 1 - wx
			f00, f01 := wy0*wx0, wy0*wx
			f10, f11 := wy*wx0, wy*wx
			p00, p01 := row0[p:p+3:p+3], row0[q:q+3:q+3]
			p10, p11 := row1[p:p+3:p+3], row1[q:q+3:q+3]
			vr := f00*float32(p00[0]) + f01*float32(p01[0]) + f10*float32(p10[0]) + f11*float32(p11[0])
			vg := f00*float32(p00[1]) + f01*float32(p01[1]) + f10*float32(p10[1]) + f11*float32(p11[1])
			vb := f00*float32(p00[2]) + f01*float32(p01[2]) + f10*float32(p10[2]) + f11*float32(p11[2])
			ro[ox] = vr*a[0] + bias[0]
			go_[ox] = vg*a[1] + bias[1]
			bo[ox] = vb*a[2] + bias[2]
		}
	}
}

// toRGB converts the window r of img (r lies within img.Bounds()) into
// packed 8-bit RGB in dst (len 3*r.Dx()*r.Dy()). Alpha is dropped.
func toRGB(img image.Image, r image.Rectangle, dst []uint8) {
	w := r.Dx()
	switch m := img.(type) {
	case *image.YCbCr:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			d := dst[(y-r.Min.Y)*3*w:][:3*w]
			yi := m.YOffset(r.Min.X, y)
			ys := m.Y[yi : yi+w]
			switch m.SubsampleRatio {
			case image.YCbCrSubsampleRatio444:
				ci := m.COffset(r.Min.X, y)
				cb, cr := m.Cb[ci:ci+w], m.Cr[ci:ci+w]
				for i := range w {
					d[3*i], d[3*i+1], d[3*i+2] = color.YCbCrToRGB(ys[i], cb[i], cr[i])
				}
			case image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio422:
				// Same arithmetic as (*image.YCbCr).COffset, hoisted per row.
				ciy := (y/2-m.Rect.Min.Y/2)*m.CStride - m.Rect.Min.X/2
				if m.SubsampleRatio == image.YCbCrSubsampleRatio422 {
					ciy = (y-m.Rect.Min.Y)*m.CStride - m.Rect.Min.X/2
				}
				// color.YCbCrToRGB's integer arithmetic, inlined by hand.
				for i := range w {
					ci := ciy + (r.Min.X+i)/2
					yy := int32(ys[i]) * 0x10101
					cb1, cr1 := int32(m.Cb[ci])-128, int32(m.Cr[ci])-128
					p := d[3*i : 3*i+3 : 3*i+3]
					p[0] = clamp16(yy + 91881*cr1)
					p[1] = clamp16(yy - 22554*cb1 - 46802*cr1)
					p[2] = clamp16(yy + 116130*cb1)
				}
			default:
				for i := range w {
					ci := m.COffset(r.Min.X+i, y)
					d[3*i], d[3*i+1], d[3*i+2] = color.YCbCrToRGB(ys[i], m.Cb[ci], m.Cr[ci])
				}
			}
		}
	case *image.Gray:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			d := dst[(y-r.Min.Y)*3*w:][:3*w]
			s := m.Pix[m.PixOffset(r.Min.X, y):][:w]
			for i, v := range s {
				d[3*i], d[3*i+1], d[3*i+2] = v, v, v
			}
		}
	case *image.NRGBA:
		for y := r.Min.Y; y < r.Max.Y; y++ {
			d := dst[(y-r.Min.Y)*3*w:][:3*w]
			s := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
			for i := range w {
				d[3*i], d[3*i+1], d[3*i+2] = s[4*i], s[4*i+1], s[4*i+2]
			}
		}
	case *image.RGBA:
		if opaque(m) {
			for y := r.Min.Y; y < r.Max.Y; y++ {
				d := dst[(y-r.Min.Y)*3*w:][:3*w]
				s := m.Pix[m.PixOffset(r.Min.X, y):][:4*w]
				for i := range w {
					d[3*i], d[3*i+1], d[3*i+2] = s[4*i], s[4*i+1], s[4*i+2]
				}
			}
			return
		}
		generic(img, r, dst)
	default:
		generic(img, r, dst)
	}
}

// clamp16 clamps a 16.16 fixed-point value to 0..255 as color.YCbCrToRGB does.
func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

func opaque(m *image.RGBA) bool {
	for i := 3; i < len(m.Pix); i += 4 {
		if m.Pix[i] != 0xff {
			return false
		}
	}
	return true
}

// generic converts any image via the non-premultiplied colour model, so that
// dropping alpha matches PIL's convert("RGB").
func generic(img image.Image, r image.Rectangle, dst []uint8) {
	i := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			dst[i], dst[i+1], dst[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
}

// Time runs Apply iters times on data (after one untimed warm-up) and
// returns per-iteration wall times in ms. The output buffer is reused across
// iterations, as a steady-state data loader would.
func (t Transform) Time(data []byte, iters int) (Timing, error) {
	if iters < 1 {
		return Timing{}, fmt.Errorf("time preprocessing: iters must be at least 1, got %d", iters)
	}
	buf, _, err := t.Apply(data, nil)
	if err != nil {
		return Timing{}, err
	}
	samples := make([]float64, iters)
	for i := range samples {
		start := time.Now()
		buf, _, err = t.Apply(data, buf)
		samples[i] = float64(time.Since(start).Nanoseconds()) / 1e6
		if err != nil {
			return Timing{}, err
		}
	}
	return Timing{Iters: iters, SamplesMs: samples}, nil
}
