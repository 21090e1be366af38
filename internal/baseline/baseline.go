// Package baseline stores perflab's baselines: per configuration, the raw latency samples
// of the last K runs with their environment fingerprint, commit and date, in one
// human-diffable JSON file per preset (stable key order, one entry per configuration,
// samples on one line). Files are written atomically; updates merge and never drop other
// entries.
package baseline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"time"

	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/limitfile"
	"github.com/perflab/perflab/internal/record"
)

// SchemaVersion is the major version of the baseline file format. Within a major version
// files only gain fields, which older perflab versions ignore (a newer perflab's baseline
// still gates an older one's pull requests); a file of a newer major version is refused
// with "upgrade perflab". A file without schema_version is read as version 1.
const SchemaVersion = 1

// MaxFileBytes bounds the baseline file read.
const MaxFileBytes = 1 << 30

// MaxSampleMs bounds a stored latency sample: one forward call of a day is not a
// measurement but a corrupt file.
const MaxSampleMs = 86_400_000

// DefaultKeep is how many runs an entry keeps by default.
const DefaultKeep = 5

// File is one baseline file.
type File struct {
	SchemaVersion int     `json:"schema_version"`
	Preset        string  `json:"preset,omitempty"`
	Keep          int     `json:"keep"`
	Entries       []Entry `json:"entries"` // sorted by Key
}

// Entry is one configuration's history: its key (record.Record.Key), its knobs (JSON
// names as in records; files written before the knobs were shared say "compile" for the
// requested compile mode, which still reads) and its runs.
type Entry struct {
	Key string `json:"key"`
	knobs.Knobs
	Runs []Run `json:"runs"` // oldest first, at most File.Keep
}

// UnmarshalJSON reads an entry, old files' "compile" included.
func (e *Entry) UnmarshalJSON(b []byte) error {
	type plain Entry
	var v struct {
		plain
		OldCompile string `json:"compile"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Entry(v.plain)
	if e.Compile == "" {
		e.Compile = v.OldCompile
	}
	return nil
}

// Run is one measurement of a configuration.
type Run struct {
	Commit        string    `json:"commit,omitempty"`
	Date          string    `json:"date"` // RFC 3339, UTC
	Fingerprint   string    `json:"fingerprint"`
	CPUModel      string    `json:"cpu_model,omitempty"`
	CPUsAvailable float64   `json:"cpus_available,omitempty"`
	Torch         string    `json:"torch,omitempty"`
	OneDNN        string    `json:"onednn,omitempty"`    // record env.onednn
	TEFuser       string    `json:"te_fuser,omitempty"`  // record env.te_fuser
	CXX11ABI      string    `json:"cxx11_abi,omitempty"` // record env.cxx11_abi
	BLAS          string    `json:"blas,omitempty"`
	ModelSHA256   string    `json:"model_sha256,omitempty"`
	Iters         int       `json:"iters"`
	ThroughputRPS float64   `json:"throughput_rps"`
	LatencyP50    float64   `json:"latency_p50"`
	LatencyP95    float64   `json:"latency_p95"`
	LatencyP99    float64   `json:"latency_p99"`
	SamplesMs     []float64 `json:"samples_ms"` // rounded to 0.1 µs
	// OtherCPUs: CPUs other processes kept busy during the run (record env.other_cpus).
	OtherCPUs *float64 `json:"other_cpus,omitempty"`
	// The reference workload's per-call time in the run's process (record reference.ms),
	// the standard error of its log and the workload's name; absent in runs of older
	// perflab versions. The gate divides ratios by the reference's ratio (machine drift).
	ReferenceMs       float64 `json:"reference_ms,omitempty"`
	ReferenceLogSE    float64 `json:"reference_log_se,omitempty"`
	ReferenceWorkload string  `json:"reference_workload,omitempty"`
}

// New returns an empty baseline for a preset.
func New(preset string, keep int) *File {
	if keep < 1 {
		keep = DefaultKeep
	}
	return &File{SchemaVersion: SchemaVersion, Preset: preset, Keep: keep, Entries: []Entry{}}
}

// ErrNotExist is returned by Load for a missing baseline file.
var ErrNotExist = errors.New("no baseline")

// Load reads a baseline file. A missing file returns an error wrapping ErrNotExist.
func Load(path string) (*File, error) {
	b, err := limitfile.Read(path, MaxFileBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNotExist, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read baseline %s: %w", path, err)
	}
	return Parse(path, b)
}

// Parse decodes and validates a baseline file's contents.
func Parse(name string, b []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("baseline %s is malformed: %v: fix it or regenerate it with perflab baseline update", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("baseline %s is malformed: data after the JSON object: fix it or regenerate it with perflab baseline update", name)
	}
	if f.SchemaVersion == 0 {
		f.SchemaVersion = 1 // written before the field existed
	}
	switch {
	case f.SchemaVersion < 0:
		return nil, fmt.Errorf("baseline %s: schema_version %d is not supported (want %d)", name, f.SchemaVersion, SchemaVersion)
	case f.SchemaVersion > SchemaVersion:
		return nil, fmt.Errorf("baseline %s: schema_version %d is newer than this perflab understands (%d): upgrade perflab", name, f.SchemaVersion, SchemaVersion)
	}
	if err := f.Validate(); err != nil {
		return nil, fmt.Errorf("baseline %s: %v: fix it or regenerate it with perflab baseline update", name, err)
	}
	if f.Entries == nil {
		f.Entries = []Entry{}
	}
	// Hand-edited or merged files may be out of order; Lookup needs them sorted.
	sort.Slice(f.Entries, func(i, j int) bool { return f.Entries[i].Key < f.Entries[j].Key })
	return &f, nil
}

// Validate checks what the gate relies on: keep >= 1, each entry's key, model and batch
// size present and unique, and every run's samples finite, positive and below MaxSampleMs
// (a corrupt or hand-edited sample would make the gate pass or fail on nonsense). Its
// errors name the entry and the run.
func (f *File) Validate() error {
	if f.Keep < 1 {
		return errors.New("keep must be >= 1")
	}
	seen := map[string]bool{}
	for i, e := range f.Entries {
		if e.Key == "" || e.Model == "" || e.BatchSize < 1 {
			return fmt.Errorf("entry %d lacks key, model or batch_size", i+1)
		}
		if seen[e.Key] {
			return fmt.Errorf("entry %q appears twice", e.Key)
		}
		seen[e.Key] = true
		for j, r := range e.Runs {
			if len(r.SamplesMs) == 0 {
				return fmt.Errorf("entry %s run %d has no samples_ms", e.Key, j+1)
			}
			for k, v := range r.SamplesMs {
				if !(v > 0 && v <= MaxSampleMs) {
					return fmt.Errorf("entry %s run %d: samples_ms[%d] = %g is not a latency (want > 0 and <= %d ms)", e.Key, j+1, k, v, MaxSampleMs)
				}
			}
			for _, m := range []struct {
				name string
				v    float64
			}{{"latency_p50", r.LatencyP50}, {"latency_p95", r.LatencyP95}, {"latency_p99", r.LatencyP99}, {"throughput_rps", r.ThroughputRPS},
				{"reference_ms", r.ReferenceMs}, {"reference_log_se", r.ReferenceLogSE}} {
				if !(m.v >= 0) || math.IsInf(m.v, 0) {
					return fmt.Errorf("entry %s run %d: %s = %g is not a measurement (want >= 0)", e.Key, j+1, m.name, m.v)
				}
			}
		}
	}
	return nil
}

// Lookup returns the entry with the key, or nil.
func (f *File) Lookup(key string) *Entry {
	i := sort.Search(len(f.Entries), func(i int) bool { return f.Entries[i].Key >= key })
	if i < len(f.Entries) && f.Entries[i].Key == key {
		return &f.Entries[i]
	}
	return nil
}

// UpdateResult says what Update did.
type UpdateResult struct {
	Added, Updated int      // entries created, entries given a new run
	Skipped        []string // records not stored, with the reason
}

// Update appends one run per usable record (failed records and records whose outputs
// differ from the plain model are skipped and listed), keeping the newest Keep runs of
// each entry. Runs an earlier update stored for the same commit are replaced. Entries of
// other configurations are kept as they are.
func (f *File) Update(recs []*record.Record, commit string, now time.Time) UpdateResult {
	var res UpdateResult
	touched := map[string]bool{}
	for _, r := range recs {
		switch {
		case !r.OK():
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: failed: %s", r.Key(), r.Error))
			continue
		case !r.Usable():
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: outputs differ from the plain model", r.Key()))
			continue
		case len(r.SamplesMs) == 0:
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: no samples_ms (a record from an older tool?)", r.Key()))
			continue
		case badSample(r.SamplesMs) >= 0:
			i := badSample(r.SamplesMs)
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s: samples_ms[%d] = %g is not a latency (want > 0 and <= %d ms)", r.Key(), i, r.SamplesMs[i], MaxSampleMs))
			continue
		}
		key := r.Key()
		e := f.Lookup(key)
		if e == nil {
			f.Entries = append(f.Entries, entryFor(r))
			sort.Slice(f.Entries, func(i, j int) bool { return f.Entries[i].Key < f.Entries[j].Key })
			e = f.Lookup(key)
			res.Added++
		} else if !touched[key] {
			res.Updated++
		}
		if !touched[key] && commit != "" {
			// A re-run of the same commit replaces that commit's runs: it must not fill
			// the K slots with one commit's measurements (runs of this update are kept).
			kept := e.Runs[:0]
			for _, run := range e.Runs {
				if run.Commit != commit {
					kept = append(kept, run)
				}
			}
			e.Runs = kept
		}
		touched[key] = true
		e.Runs = append(e.Runs, runFor(r, commit, now))
		if len(e.Runs) > f.Keep {
			e.Runs = e.Runs[len(e.Runs)-f.Keep:]
		}
	}
	return res
}

// badSample returns the index of the first sample that is not a latency, or -1.
func badSample(ms []float64) int {
	for i, v := range ms {
		if !(v > 0 && v <= MaxSampleMs) {
			return i
		}
	}
	return -1
}

func entryFor(r *record.Record) Entry {
	return Entry{Key: r.Key(), Knobs: r.Configuration().Normalize()}
}

func runFor(r *record.Record, commit string, now time.Time) Run {
	run := Run{Commit: commit, Date: now.UTC().Format(time.RFC3339), ModelSHA256: r.ModelSHA256, Iters: len(r.SamplesMs),
		ThroughputRPS: round(r.ThroughputRPS, 1e-3), LatencyP50: round(r.LatencyP50, 1e-4), LatencyP95: round(r.LatencyP95, 1e-4),
		LatencyP99: round(r.LatencyP99, 1e-4), SamplesMs: make([]float64, len(r.SamplesMs))}
	for i, v := range r.SamplesMs {
		run.SamplesMs[i] = max(round(v, 1e-4), 1e-4) // a latency stays positive
	}
	if e := r.Env; e != nil {
		run.Fingerprint, run.CPUModel, run.CPUsAvailable, run.Torch, run.BLAS = e.Fingerprint, e.CPUModel, e.CPUsAvailable, e.Torch, e.BLAS
		run.OneDNN, run.TEFuser, run.CXX11ABI = e.OneDNN, e.TEFuser, e.CXX11ABI
		run.OtherCPUs = e.OtherCPUs
	}
	if ref := r.Reference; ref != nil && ref.Ms > 0 {
		run.ReferenceMs, run.ReferenceLogSE, run.ReferenceWorkload = round(ref.Ms, 1e-6), round(ref.LogSE, 1e-6), ref.Workload
	}
	return run
}

// round rounds v to a multiple of unit (a power of ten below 1), keeping JSON short.
func round(v, unit float64) float64 {
	scale := math.Round(1 / unit)
	return math.Round(v*scale) / scale
}

// numberArray matches a JSON array of numbers spread over lines by MarshalIndent.
var numberArray = regexp.MustCompile(`\[\s*(-?[0-9][0-9.eE+-]*(?:,\s*-?[0-9][0-9.eE+-]*)*)\s*\]`)
var space = regexp.MustCompile(`\s+`)

// Marshal renders the file: indented, keys in a fixed order, number arrays on one line.
func (f *File) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	b = numberArray.ReplaceAllFunc(b, func(m []byte) []byte {
		return space.ReplaceAll(m, nil)
	})
	return append(b, '\n'), nil
}

// Save writes the file atomically: a temporary file in the same folder, synced, then
// renamed over path.
func (f *File) Save(path string) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("baseline %s not written: %v", path, err)
	}
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}
