package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/perflab/perflab/internal/limitfile"
)

// Marshal returns r as one JSON line, newline included. Non-finite numbers (JSON has
// none) are written as 0 and listed in non_finite, from which Parse restores them.
func Marshal(r *Record) ([]byte, error) {
	restore := encodeNonFinite(r)
	b, err := json.Marshal(r)
	restore()
	if err != nil {
		return nil, fmt.Errorf("encode record for %s: %w", r.Model, err)
	}
	return append(b, '\n'), nil
}

// appendTarget is what appendLine needs of an open file; tests inject faults through it.
type appendTarget interface {
	io.Writer
	io.ReaderAt
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Sync() error
}

// AppendFile appends r to the JSONL file at path, creating the file and its folders.
// The append is whole-line or nothing: one write of the whole line under an exclusive
// lock of the file (concurrent appenders take turns), a newline first when the file does
// not end in one, then a sync; on any failure (a full disk, an I/O error) the file is cut
// back to its old length, so a failed append leaves the file exactly as it was.
func AppendFile(path string, r *Record) error {
	line, err := Marshal(r)
	if err != nil {
		return err
	}
	return AppendLine(path, line)
}

// AppendLine appends one line (ending in a newline) to the file at path the way
// AppendFile does: whole-line or nothing, under the file's lock.
func AppendLine(path string, line []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s for appending: %w", path, err)
	}
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("append to %s: not a regular file: give a .jsonl file path", path)
	}
	// Closing the file releases the lock.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return fmt.Errorf("lock %s for appending: %w", path, err)
	}
	if err := appendLine(f, line); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w (the file was left as it was)", path, err)
	}
	return f.Close()
}

// appendLine writes line at the end of f in one write, after a newline when f's last byte
// is not one, and syncs; on failure it truncates f back to its length before.
func appendLine(f appendTarget, line []byte) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	n, err := f.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if terr := f.Truncate(size); terr != nil {
			return fmt.Errorf("%w; cutting back the partial line also failed: %v", err, terr)
		}
		f.Sync()
		return err
	}
	return nil
}

// LineError is a malformed line. Readers report it and go on with the next line.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("%s:%d: malformed record: %v", e.File, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Reader reads records from JSONL. Blank lines are skipped. Lines of any length are read.
type Reader struct {
	name    string
	br      *bufio.Reader
	line    int
	pending *Record // a record found after a torn line, returned by the next Next
}

// NewReader returns a Reader over r; name is used in errors (usually the file path).
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record. At the end it returns io.EOF. A malformed line returns a
// *LineError; the caller may report it and call Next again. Any other error is fatal.
//
// A torn line (the start of a record whose write was cut short, by a full disk or a kill,
// followed on the same line by the next record an older perflab appended) is reported as
// torn and the record after it is kept. A last line without a newline that is not a
// record is reported as torn too.
func (r *Reader) Next() (*Record, error) {
	if r.pending != nil {
		rec := r.pending
		r.pending = nil
		return rec, nil
	}
	for {
		b, long, err := r.readLine()
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
		if len(b) == 0 && !long && err != nil {
			return nil, io.EOF
		}
		r.line++
		if long {
			return nil, &LineError{File: r.name, Line: r.line, Err: fmt.Errorf("line longer than %d MiB: not a perflab record", MaxLineBytes>>20)}
		}
		complete := b[len(b)-1] == '\n'
		if r.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		rec, perr := Parse(b)
		if perr == nil {
			return rec, nil
		}
		if next, at := GluedRecord(b); next != nil {
			r.pending = next
			return nil, &LineError{File: r.name, Line: r.line, Err: fmt.Errorf("torn record (%d bytes of a write that was cut short, by a full disk or a kill) glued to the next record, which is kept", at)}
		}
		if !complete {
			return nil, &LineError{File: r.name, Line: r.line, Err: fmt.Errorf("torn last line (no newline at its end: a write was cut short, by a full disk or a kill): %v", perr)}
		}
		return nil, &LineError{File: r.name, Line: r.line, Err: perr}
	}
}

// MaxLineBytes bounds one JSONL line (a record of a million samples is ~20 MB); longer
// lines are reported and skipped without being held in memory.
const MaxLineBytes = 256 << 20

// readLine returns the next line with its newline, or reports (long) that it was longer
// than MaxLineBytes, having read past it.
func (r *Reader) readLine() (line []byte, long bool, err error) {
	for {
		chunk, err := r.br.ReadSlice('\n')
		if !long && len(line)+len(chunk) <= MaxLineBytes {
			line = append(line, chunk...)
		} else {
			long, line = true, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, long, err
	}
}

// GluedRecord finds a whole record that ends the malformed line b after a torn prefix,
// and returns it with its offset in b (nil when there is none).
func GluedRecord(b []byte) (*Record, int) {
	for at, tries := 1, 0; at < len(b) && tries < 64; at, tries = at+1, tries+1 {
		i := bytes.Index(b[at:], []byte(`{"`))
		if i < 0 {
			return nil, 0
		}
		at += i
		if rec, err := Parse(b[at:]); err == nil {
			return rec, at
		}
	}
	return nil, 0
}

// Parse decodes and validates one JSON record.
func Parse(b []byte) (*Record, error) {
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
		}
		return nil, err
	}
	if k := duplicateKey(b); k != "" {
		return nil, fmt.Errorf("key %q appears twice in one object: keep one", k)
	}
	decodeNonFinite(&rec)
	// Names are rendered in reports, PR comments and logs: keep them on one line.
	rec.Model, rec.Preset = Printable(rec.Model), Printable(rec.Preset)
	if err := rec.validate(); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (r *Record) validate() error {
	switch {
	case r.Model == "":
		return errors.New(`missing "model"`)
	case r.BatchSize < 1:
		return fmt.Errorf(`"batch_size" must be >= 1, got %d`, r.BatchSize)
	case r.SchemaVersion < 0:
		return fmt.Errorf("schema_version %d is negative", r.SchemaVersion)
	case r.SchemaVersion > SchemaVersion:
		return fmt.Errorf("schema_version %d is newer than this perflab understands (%d): upgrade perflab", r.SchemaVersion, SchemaVersion)
	case r.Status != "" && r.Status != StatusOK && r.Status != StatusFailed:
		return fmt.Errorf("unknown status %q", r.Status)
	}
	for _, l := range []struct {
		name string
		v    float64
	}{{"latency_p50", r.LatencyP50}, {"latency_p90", r.LatencyP90}, {"latency_p95", r.LatencyP95}, {"latency_p99", r.LatencyP99},
		{"latency_mean", r.LatencyMean}, {"latency_min", r.LatencyMin}, {"latency_max", r.LatencyMax},
		{"throughput_rps", r.ThroughputRPS}, {"forward_ms_per_batch", r.ForwardMsPerBatch}} {
		if l.v < 0 {
			return fmt.Errorf("%q is negative (%g): a latency or rate cannot be", l.name, l.v)
		}
	}
	for i, v := range r.SamplesMs {
		if v < 0 {
			return fmt.Errorf("samples_ms[%d] is negative (%g): a latency cannot be", i, v)
		}
	}
	return nil
}

// duplicateKey returns the first key that appears twice in one JSON object of b, or "".
// encoding/json keeps the last of duplicates silently; a record with two "latency_p95"
// is ambiguous and refused. b must be valid JSON.
func duplicateKey(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b))
	type obj struct {
		keys  map[string]bool
		isObj bool
		want  bool // the next string token is a key
	}
	var stack []*obj
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		top := (*obj)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.isObj && top.want
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.isObj {
					top.want = true
				}
				stack = append(stack, &obj{keys: map[string]bool{}, isObj: t == '{', want: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if isKey {
				if top.keys[t] {
					return t
				}
				top.keys[t] = true
				top.want = false
				continue
			}
		}
		if top != nil && top.isObj {
			top.want = true
		}
	}
}

// ReadFile reads every record of a JSONL file. Malformed lines are passed to onBad (which
// may be nil) and skipped.
func ReadFile(path string, onBad func(*LineError)) ([]*Record, error) {
	f, err := limitfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var recs []*Record
	rd := NewReader(f, path)
	for {
		rec, err := rd.Next()
		var le *LineError
		switch {
		case errors.Is(err, io.EOF):
			return recs, nil
		case errors.As(err, &le):
			if onBad != nil {
				onBad(le)
			}
		case err != nil:
			return recs, err
		default:
			recs = append(recs, rec)
		}
	}
}
