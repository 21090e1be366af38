package preprocess

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
)

// maxSyntheticPixels bounds SyntheticJPEG's image size (about 16k x 16k).
const maxSyntheticPixels = 1 << 28

// SyntheticJPEG returns a deterministic, photo-like JPEG of w x h pixels at
// the given quality (1..100), generated from seed. Same args -> same bytes
// (for a given Go release: the bytes depend on image/jpeg's encoder).
//
// The picture is a smooth two-colour gradient with a few soft coloured
// blobs, some hard-edged ellipses, a mid-frequency oriented texture and
// per-pixel noise, so it has photo-like spectral content and does not
// compress trivially: 640x480 at quality 90 is about 3 bits per pixel
// (ImageNet validation JPEGs average roughly 4-5).
func SyntheticJPEG(w, h int, seed int64, quality int) ([]byte, error) {
	if w <= 0 || h <= 0 {
		return nil, fmt.Errorf("synthetic jpeg: size must be positive, got %dx%d", w, h)
	}
	if w > maxSyntheticPixels/h {
		return nil, fmt.Errorf("synthetic jpeg: size %dx%d exceeds %d pixels", w, h, maxSyntheticPixels)
	}
	if quality < 1 || quality > 100 {
		return nil, fmt.Errorf("synthetic jpeg: quality must be in 1..100, got %d", quality)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	randColor := func() [3]float64 {
		return [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
	}

	// Background gradient from c0 to c1 along a random direction.
	c0, c1 := randColor(), randColor()
	ang := rng.Float64() * 2 * math.Pi
	gdx, gdy := math.Cos(ang), math.Sin(ang)

	type blob struct {
		cx, cy, inv2s2, amp float64
		col                 [3]float64
	}
	blobs := make([]blob, 6)
	for i := range blobs {
		s := 0.05 + 0.2*rng.Float64()
		blobs[i] = blob{
			cx: rng.Float64(), cy: rng.Float64(), inv2s2: 1 / (2 * s * s),
			amp: 0.4 + 0.5*rng.Float64(), col: randColor(),
		}
	}

	// Hard-edged ellipses ("objects"), giving sharp edges at varied angles.
	type ellipse struct {
		cx, cy, irx2, iry2, cos, sin float64
		col                          [3]float64
	}
	ellipses := make([]ellipse, 8)
	for i := range ellipses {
		rx, ry := 0.03+0.15*rng.Float64(), 0.03+0.15*rng.Float64()
		a := rng.Float64() * math.Pi
		ellipses[i] = ellipse{
			cx: rng.Float64(), cy: rng.Float64(), irx2: 1 / (rx * rx), iry2: 1 / (ry * ry),
			cos: math.Cos(a), sin: math.Sin(a), col: randColor(),
		}
	}

	type wave struct{ kx, ky, phase, amp float64 }
	waves := make([]wave, 3)
	for i := range waves {
		a := rng.Float64() * math.Pi
		f := 2 * math.Pi * (8 + 40*rng.Float64()) // cycles per image
		waves[i] = wave{f * math.Cos(a), f * math.Sin(a), rng.Float64() * 2 * math.Pi, 6 + 8*rng.Float64()}
	}
	noiseSeed := rng.Uint64()

	img := image.NewRGBA(image.Rect(0, 0, w, h))
	norm := 1 / float64(max(w, h))
	for y := range h {
		fy := (float64(y) + 0.5) * norm
		row := img.Pix[y*img.Stride:][:4*w]
		for x := range w {
			fx := (float64(x) + 0.5) * norm
			// Gradient parameter in [0,1].
			g := 0.5 + 0.5*((fx-0.5)*gdx+(fy-0.5)*gdy)*1.4
			g = min(max(g, 0), 1)
			var px [3]float64
			for c := range 3 {
				px[c] = c0[c] + (c1[c]-c0[c])*g
			}
			for _, b := range blobs {
				dx, dy := fx-b.cx, fy-b.cy
				k := b.amp * math.Exp(-(dx*dx+dy*dy)*b.inv2s2)
				for c := range 3 {
					px[c] += (b.col[c] - px[c]) * k
				}
			}
			for _, e := range ellipses {
				dx, dy := fx-e.cx, fy-e.cy
				u, v := dx*e.cos+dy*e.sin, -dx*e.sin+dy*e.cos
				if u*u*e.irx2+v*v*e.iry2 <= 1 {
					for c := range 3 {
						// Mostly the object's colour, with some shading.
						px[c] = 0.8*e.col[c] + 0.2*px[c]
					}
				}
			}
			var tex float64
			for _, wv := range waves {
				tex += wv.amp * math.Sin(wv.kx*fx+wv.ky*fy+wv.phase)
			}
			n := splitmix64(noiseSeed ^ uint64(y)<<32 ^ uint64(x))
			lum := float64(int(n&0xff)-128) / 128 * 12 // shared luminance noise
			for c := range 3 {
				chroma := float64(int(n>>(8+8*c)&0xff)-128) / 128 * 3
				row[4*x+c] = clampByte(px[c] + tex + lum + chroma)
			}
			row[4*x+3] = 0xff
		}
	}

	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("synthetic jpeg: encode: %v", err)
	}
	return buf.Bytes(), nil
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func clampByte(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
