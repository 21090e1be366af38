// Package merge concatenates JSONL result files — the shards of a sweep run on several
// machines (perflab sweep --shard I/N) — into one: every line is validated as a record
// (a malformed line is reported with its file and line and skipped, the way every perflab
// reader does), and exact duplicate records (the same shard downloaded twice, a file given
// twice) are written once. Lines are copied as they are, so no field is lost.
package merge

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/perflab/perflab/internal/limitfile"
	"github.com/perflab/perflab/internal/record"
)

// Result counts what Files did.
type Result struct {
	Files        int
	Records      int // written
	Duplicates   int // exact duplicates dropped
	Malformed    int // lines skipped
	Failed       int // records with status failed (written: they say what could not run)
	Presets      []string
	Fingerprints []string
}

// Files copies the valid, distinct records of paths, in order, to w. onBad (may be nil) is
// told about each malformed line. A missing file is an error; so is having no valid record
// at all.
func Files(w io.Writer, paths []string, onBad func(*record.LineError)) (Result, error) {
	res := Result{}
	if len(paths) == 0 {
		return res, errors.New("no input file: give the JSONL files to merge")
	}
	seen := map[string]bool{}
	presets, fps := map[string]bool{}, map[string]bool{}
	bw := bufio.NewWriter(w)
	for _, p := range paths {
		f, err := limitfile.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return res, fmt.Errorf("input %s does not exist", p)
			}
			return res, err
		}
		res.Files++
		br := bufio.NewReaderSize(f, 64<<10)
		for line := 1; ; line++ {
			b, rerr := br.ReadBytes('\n')
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				f.Close()
				return res, fmt.Errorf("read %s: %w", p, rerr)
			}
			if len(b) == 0 && rerr != nil {
				break
			}
			if line == 1 {
				b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
			}
			b = bytes.TrimSpace(b)
			if len(b) > 0 {
				rec, perr := record.Parse(b)
				if perr != nil {
					if glued, at := record.GluedRecord(b); glued != nil {
						// A torn record glued to a whole one: report the torn part, keep the record.
						res.Malformed++
						if onBad != nil {
							onBad(&record.LineError{File: p, Line: line, Err: fmt.Errorf("torn record (%d bytes of a write that was cut short) glued to the next record, which is kept", at)})
						}
						rec, perr, b = glued, nil, b[at:]
					}
				}
				if perr != nil {
					res.Malformed++
					if onBad != nil {
						onBad(&record.LineError{File: p, Line: line, Err: perr})
					}
				} else {
					var canon bytes.Buffer
					if err := json.Compact(&canon, b); err != nil {
						canon.Reset()
						canon.Write(b)
					}
					if seen[canon.String()] {
						res.Duplicates++
					} else {
						seen[canon.String()] = true
						res.Records++
						if !rec.OK() {
							res.Failed++
						}
						if rec.Preset != "" && !presets[rec.Preset] {
							presets[rec.Preset] = true
							res.Presets = append(res.Presets, rec.Preset)
						}
						if rec.Env != nil && rec.Env.Fingerprint != "" && !fps[rec.Env.Fingerprint] {
							fps[rec.Env.Fingerprint] = true
							res.Fingerprints = append(res.Fingerprints, rec.Env.Fingerprint)
						}
						bw.Write(b)
						bw.WriteByte('\n')
					}
				}
			}
			if rerr != nil {
				break
			}
		}
		f.Close()
	}
	if err := bw.Flush(); err != nil {
		return res, err
	}
	if res.Records == 0 {
		return res, fmt.Errorf("no valid record in %s (%d malformed lines)", strings.Join(paths, ", "), res.Malformed)
	}
	return res, nil
}

// Warnings says what in a merge deserves a second look: several presets or environment
// fingerprints mixed (shards measured on different machine kinds are not comparable).
func (r Result) Warnings() []string {
	var w []string
	if len(r.Presets) > 1 {
		w = append(w, fmt.Sprintf("the files mix %d presets (%s)", len(r.Presets), strings.Join(r.Presets, ", ")))
	}
	if len(r.Fingerprints) > 1 {
		w = append(w, fmt.Sprintf("the files mix %d environment fingerprints (%s): shards ran on different machine kinds, so their results are not comparable with one baseline", len(r.Fingerprints), strings.Join(r.Fingerprints, ", ")))
	}
	return w
}
