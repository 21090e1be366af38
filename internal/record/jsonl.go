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
)

// Marshal returns r as one JSON line, newline included.
func Marshal(r *Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode record for %s: %w", r.Model, err)
	}
	return append(b, '\n'), nil
}

// AppendFile appends r to the JSONL file at path, creating the file and its folders. The
// line is written with a single write on a file opened for appending, then synced, so a
// killed process leaves every earlier record intact.
func AppendFile(path string, r *Record) error {
	line, err := Marshal(r)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open %s for appending: %w", path, err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
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
	name string
	br   *bufio.Reader
	line int
}

// NewReader returns a Reader over r; name is used in errors (usually the file path).
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record. At the end it returns io.EOF. A malformed line returns a
// *LineError; the caller may report it and call Next again. Any other error is fatal.
func (r *Reader) Next() (*Record, error) {
	for {
		b, err := r.br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
		if len(b) == 0 && err != nil {
			return nil, io.EOF
		}
		r.line++
		if r.line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		rec, perr := Parse(b)
		if perr != nil {
			return nil, &LineError{File: r.name, Line: r.line, Err: perr}
		}
		return rec, nil
	}
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
	return nil
}

// ReadFile reads every record of a JSONL file. Malformed lines are passed to onBad (which
// may be nil) and skipped.
func ReadFile(path string, onBad func(*LineError)) ([]*Record, error) {
	f, err := os.Open(path)
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
