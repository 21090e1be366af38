package knobs

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Flag names of the knobs, as perflab bench, load and gate --ab take them.
const (
	FlagModel          = "model"
	FlagInput          = "input"
	FlagDevice         = "device"
	FlagBatchSize      = "batch-size"
	FlagCompile        = "compile"
	FlagThreads        = "threads"
	FlagInteropThreads = "interop-threads"
	FlagChannelsLast   = "channels-last"
	FlagQuantize       = "quantize"
	FlagOneDNNISA      = "onednn-isa"
	FlagAllocator      = "allocator"
	FlagOMPWait        = "omp-wait"
	FlagPin            = "pin"
)

// FlagOption adapts the knob flags to one command.
type FlagOption func(*flagSet)

type flagSet struct {
	omit   map[string]bool
	usage  map[string]string
	prefix string
}

// Omit leaves these flags out (a command that sets the knob otherwise: perflab load's
// batch size is --max-batch; gate --ab's models are --ab).
func Omit(names ...string) FlagOption {
	return func(s *flagSet) {
		for _, n := range names {
			s.omit[n] = true
		}
	}
}

// Usage replaces one flag's help text.
func Usage(name, text string) FlagOption {
	return func(s *flagSet) { s.usage[name] = text }
}

// UsagePrefix starts every flag's help text with p (gate: "A/B mode: ").
func UsagePrefix(p string) FlagOption {
	return func(s *flagSet) { s.prefix = p }
}

func newFlagSet(opts []FlagOption) *flagSet {
	s := &flagSet{omit: map[string]bool{}, usage: map[string]string{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// usageOf returns the help text of flag name: the command's, else def.
func (s *flagSet) usageOf(name, def string) string {
	if u, ok := s.usage[name]; ok {
		return s.prefix + u
	}
	return s.prefix + def
}

// Only keeps the flags of the knobs of this scope (the sweep worker takes the AtStart ones).
func Only(scope Scope) FlagOption {
	return func(s *flagSet) {
		for _, kn := range Table {
			if kn.Scope != scope {
				s.omit[kn.Flag] = true
			}
		}
	}
}

// AddFlags registers the knob flags on f (Table), with k's current values as their defaults.
func AddFlags(f *pflag.FlagSet, k *Knobs, opts ...FlagOption) {
	s := newFlagSet(opts)
	for _, kn := range Table {
		if s.omit[kn.Flag] {
			continue
		}
		usage := s.usageOf(kn.Flag, kn.Usage)
		switch p := kn.field(k).(type) {
		case *string:
			f.StringVar(p, kn.Flag, *p, usage)
		case *int:
			f.IntVar(p, kn.Flag, *p, usage)
		case *bool:
			f.BoolVar(p, kn.Flag, *p, usage)
		case *[]string:
			f.StringArrayVar(p, kn.Flag, *p, usage)
		}
	}
}

// Args returns the flags that give a child perflab process these knobs (the inverse of
// AddFlags with the same options): the knobs with ArgAlways (model, batch size, compile,
// thread counts) always, the others when set.
func (k Knobs) Args(opts ...FlagOption) []string {
	s := newFlagSet(opts)
	var args []string
	for _, kn := range Table {
		if s.omit[kn.Flag] || !kn.ArgAlways && !kn.IsSet(k) {
			continue
		}
		switch p := kn.field(&k).(type) {
		case *bool:
			args = append(args, "--"+kn.Flag)
		case *[]string:
			for _, v := range *p {
				args = append(args, "--"+kn.Flag, v)
			}
		default:
			args = append(args, "--"+kn.Flag, kn.Text(k))
		}
	}
	return args
}

// Arrival processes of perflab load's traffic.
const (
	Poisson  = "poisson"  // exponential gaps (independent arrivals, like many independent users)
	Constant = "constant" // equal gaps
)

// Arrivals are the values of --arrival.
var Arrivals = []string{Poisson, Constant}

// Serving is how perflab load serves a configuration: replicas, the dynamic batcher and
// the offered traffic. JSON names are those of a load record's "load" object.
type Serving struct {
	Instances  int     `json:"instances"`    // model replicas serving in parallel, each with Knobs.Threads threads
	MaxBatch   int     `json:"max_batch"`    // the dynamic batcher's largest batch
	MaxDelayMs float64 `json:"max_delay_ms"` // how long the oldest queued request may wait for a fuller batch
	Arrival    string  `json:"arrival"`      // Arrivals
	OfferedRPS float64 `json:"offered_rps"`  // the target rate; 0 = none yet (a capacity search picks it)
}

// Flag names of the serving settings (perflab load).
const (
	FlagInstances = "instances"
	FlagMaxBatch  = "max-batch"
	FlagMaxDelay  = "max-delay"
	FlagArrival   = "arrival"
	FlagRate      = "rate"
)

// Validate checks the serving settings; errors name the flag and the fix.
func (s *Serving) Validate() error {
	switch {
	case s.Instances < 1:
		return fmt.Errorf("--instances must be >= 1, got %d", s.Instances)
	case s.MaxBatch < 1:
		return fmt.Errorf("--max-batch must be >= 1, got %d", s.MaxBatch)
	case s.MaxBatch > MaxBatch:
		return fmt.Errorf("--max-batch %d is more than %d", s.MaxBatch, MaxBatch)
	case !(s.MaxDelayMs >= 0) || math.IsInf(s.MaxDelayMs, 0):
		return fmt.Errorf("--max-delay must be >= 0 (0 dispatches as soon as an instance is idle), got %s", msDuration(s.MaxDelayMs))
	case !slices.Contains(Arrivals, s.Arrival):
		return fmt.Errorf("--arrival must be %s or %s, got %q", Poisson, Constant, s.Arrival)
	case !(s.OfferedRPS >= 0) || math.IsInf(s.OfferedRPS, 0):
		return fmt.Errorf("--rate must be a positive number of requests per second, got %g", s.OfferedRPS)
	}
	return nil
}

// KeySuffix is the serving part of a load record's key: "inst=2|delay=5ms|poisson" (the
// max batch is the key's batch size; the rate is not part of it).
func (s Serving) KeySuffix() string {
	return fmt.Sprintf("inst=%d|delay=%gms|%s", s.Instances, s.MaxDelayMs, s.Arrival)
}

// MaxDelay is MaxDelayMs as a duration.
func (s Serving) MaxDelay() time.Duration {
	return time.Duration(s.MaxDelayMs * float64(time.Millisecond))
}

// AddFlags registers the serving flags on f, with s's current values as their defaults.
func (s *Serving) AddFlags(f *pflag.FlagSet) {
	f.IntVar(&s.Instances, FlagInstances, s.Instances, "model instances serving in parallel (instances x threads <= CPUs)")
	f.IntVar(&s.MaxBatch, FlagMaxBatch, s.MaxBatch, "largest batch the dynamic batcher forms")
	f.Var((*msValue)(&s.MaxDelayMs), FlagMaxDelay, "how long the oldest queued request may wait for a fuller batch, e.g. 5ms")
	f.Float64Var(&s.OfferedRPS, FlagRate, s.OfferedRPS, "offered rate, requests per second (required unless --find-capacity, where it is the first rate tried)")
	f.StringVar(&s.Arrival, FlagArrival, s.Arrival, "arrival process: poisson (exponential gaps) or constant")
}

// Args returns the flags that give a child perflab load these settings; the rate only
// when set.
func (s Serving) Args() []string {
	args := []string{"--" + FlagInstances, strconv.Itoa(s.Instances), "--" + FlagMaxBatch, strconv.Itoa(s.MaxBatch),
		"--" + FlagMaxDelay, msDuration(s.MaxDelayMs), "--" + FlagArrival, s.Arrival}
	if s.OfferedRPS > 0 {
		args = append(args, "--"+FlagRate, strconv.FormatFloat(s.OfferedRPS, 'g', -1, 64))
	}
	return args
}

// msValue is a duration flag held as float milliseconds.
type msValue float64

func (v *msValue) Type() string { return "duration" }
func (v *msValue) String() string {
	if *v == 0 {
		return "0" // as pflag's durations: --help then shows no default
	}
	return msDuration(float64(*v))
}
func (v *msValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 5ms: %v", err)
	}
	*v = msValue(float64(d) / float64(time.Millisecond))
	return nil
}

func msDuration(ms float64) string { return time.Duration(ms * float64(time.Millisecond)).String() }
