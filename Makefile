# perflab — see README.md. `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
# Go on this machine kind, once: a sub-make (make test's -j4 step) must see the same PATH, or
# Go's test cache, which keys a test's result by the variables it reads, misses.
export PATH := $(if $(filter /usr/local/go/bin,$(subst :, ,$(PATH))),$(PATH),/usr/local/go/bin:$(PATH))

PYTHON     ?= /usr/bin/python3
MODELS_DIR := models/exported
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -X github.com/perflab/perflab/internal/env.Version=$(VERSION)
GOTESTFLAGS ?= -timeout 20m
# Another libtorch than the system's (docs/runtimes.md): a libtorch zip's folder or a pip
# torch's site-packages/torch. Empty: Debian's libtorch-dev.
LIBTORCH   ?=
export LIBTORCH
LIBTORCH_ENV := $(if $(LIBTORCH),cgoenv=$$(bash scripts/libtorch-env.sh '$(LIBTORCH)') && eval "$$cgoenv" &&,)

# Timed steps print how long they took ("==> NAME: 12.3 s"; scripts/timed.sh).
TIMED := bash scripts/timed.sh

.PHONY: all setup setup-compiler setup-build build models test test-prereqs gomod godeps gocompile gotest-pure test-2.6 lint-workflows actionlint image image-inductor e2e cold-start demo bench-overhead calibrate-gate calibrate-sweep clean

all: build

# The system packages in three apt transactions, so that what needs fewer can start sooner
# (make test): g++ (then Go compiles the dependencies), what building perflab needs (then
# Go compiles the tests), everything (then the models export and the tests run).
setup-compiler:
	@$(TIMED) "setup: g++" bash scripts/setup.sh compiler

setup-build: setup-compiler
	@$(TIMED) "setup: libtorch-dev, OpenBLAS" bash scripts/setup.sh build

setup: setup-build
	@$(TIMED) setup bash scripts/setup.sh

build: setup
	$(LIBTORCH_ENV) go build -ldflags "$(LDFLAGS)" -o bin/perflab ./cmd/perflab

# Exported models are build outputs (gitignored). scripts/models.sh exports them again when
# export.py or the torch/torchvision version changes, and otherwise copies them from its
# cache (~/.cache/perflab/models/KEY) or keeps them.
models: setup
	@$(TIMED) models env PYTHON=$(PYTHON) bash scripts/models.sh $(MODELS_DIR)

# make test: what can run at once does (make -j): the system packages in three steps
# (setup-*); beside them the Go modules and actionlint, then the Go dependencies (once g++ is
# there), the test binaries that link libtorch (once libtorch-dev is there), and, beside
# those, the model export and the tests that do not link libtorch (once python3-torch is
# there, for their fixtures). Then the whole suite: `go test ./...` runs the libtorch
# packages' tests and reports the others' results, passed a moment ago with the same flags
# and environment, as "(cached)" (Go's test cache; they run again when anything they read
# changed).
GOTESTENV = $(LIBTORCH_ENV) PERFLAB_MODELS_DIR=$(CURDIR)/$(MODELS_DIR)
test:
	@$(TIMED) "test prerequisites (in parallel)" $(MAKE) --no-print-directory -j4 test-prereqs
	@$(GOTESTENV) $(TIMED) "go test" go test $(GOTESTFLAGS) ./...
	@echo "==> make test passed"

test-prereqs: models gocompile gotest-pure lint-workflows

gomod:
	@$(TIMED) "go mod download" go mod download

# The standard library and third-party packages the tests use, and perflab's packages that
# do not link libtorch, compiled into Go's build cache once g++ is there (with cgo, as the
# tests build them), while apt installs libtorch. Only a warm-up: what fails here is built
# again, and its error shown, by the steps below.
godeps: setup-compiler gomod
	@$(TIMED) "go build of the dependencies" bash -c 'go build $$( { go list -deps -test ./... | grep -v "^github.com/perflab/perflab"; go list -deps -test $$(bash scripts/gopkgs.sh pure); } | grep -v " \|\.test$$" | sort -u) 2>/dev/null || true'

# Compiles the packages and test binaries that link libtorch (the cgo torch binding the
# slowest) into Go's build cache while the models export, so that go test only runs them.
gocompile: setup-build godeps
	@$(LIBTORCH_ENV) $(TIMED) "go build of the libtorch tests" bash -c 'go test -count=1 -run "^$$" $$(bash scripts/gopkgs.sh torch) >/dev/null'

# The tests that do not link libtorch (scripts/gopkgs.sh pure), run while the rest compiles.
gotest-pure: setup godeps
	@$(GOTESTENV) $(TIMED) "go test of the packages without libtorch" bash -c 'go test $(GOTESTFLAGS) $$(bash scripts/gopkgs.sh pure)'

# The whole test suite again against libtorch 2.6, in a Debian trixie root made and cached
# under /var/tmp/perflab-trixie (needs root or sudo; scripts/test-libtorch26.sh).
test-2.6:
	GOTESTFLAGS="$(GOTESTFLAGS)" bash scripts/test-libtorch26.sh

# actionlint checks action.yml and the workflows as GitHub would read them (the pinned
# version comes from the Go module proxy, once, into .tools/).
ACTIONLINT_VERSION := v1.7.12
actionlint:
	@.tools/actionlint -version 2>/dev/null | grep -q '^$(ACTIONLINT_VERSION:v%=%)$$' || \
	  $(TIMED) "actionlint install" env GOBIN=$(CURDIR)/.tools go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

lint-workflows: actionlint
	.tools/actionlint

# The action's image, perflab:dev (Debian trixie, libtorch 2.6), built from the Dockerfile
# on this machine: a local Docker daemon without a bridge network and base images
# debootstrap'd from this machine's Debian archive (scripts/e2e/build-image.sh; docs/image.md).
# Run it with: bash scripts/e2e/docker.sh run --rm --network host perflab:dev bench --model resnet18
# The image is FROM scratch: perflab, the libraries it loads, the models, OpenBLAS and CA
# certificates (docs/image.md); its build runs every built-in in it.
image:
	@$(TIMED) "make image" bash scripts/e2e/build-image.sh perflab:dev

# The inductor Action's image (inductor/action.yml): the lean image plus what compiling a
# torch.export program with AOTInductor uses, found by tracing a compile (docs/image.md, "Inductor").
image-inductor:
	@$(TIMED) "make image-inductor" env E2E_TARGET=inductor bash scripts/e2e/build-image.sh perflab:dev-inductor

# Measurements run one at a time under the machine's timing lock; PERFLAB_TIMING_LOCKED=1 says
# the caller holds it already (taking it again from a child would wait forever).
TIMING_LOCK = $(if $(PERFLAB_TIMING_LOCKED),,flock /tmp/perflab-timing.lock)

# The image's cold start: docker save | rmi | load, then docker run -> the first timed forward.
cold-start:
	$(TIMING_LOCK) bash scripts/e2e/cold-start.sh perflab:dev

# The action, run for real: its image built from the Dockerfile, the example workflows run
# by act against a fake GitHub API on loopback (scripts/e2e/run.sh; docs/development.md, "Testing").
e2e:
	bash scripts/e2e/run.sh

# The main job on a built-in model: a quick sweep, then the report with its recommendation.
demo: build models
	@rm -f results/demo.jsonl
	./bin/perflab sweep --preset cpu_vision --quick --models mobilenet_v3_small --out results/demo.jsonl
	./bin/perflab report --input results/demo.jsonl --out reports/demo.md --constraint latency --latency-pct p95 --latency-budget-ms 20

# Measures perflab's reported p50 against a plain C++ libtorch loop (see docs/statistics.md, "Overhead").
bench-overhead: build models
	bash scripts/bench-overhead.sh

# Measures the gate where users run it (docs/calibration.md): the Action's pull-request flow
# with no stored baseline (A/B against the base: ~30% and ~10% slower models, a same-speed
# twin) and stored baselines of 3 runs, under the timing lock. Full run: 10 PRs and 10
# stored trials of each kind; CALIBRATE_ARGS="3 5" for a shorter one.
CALIBRATE_ARGS ?= 10 10
calibrate-gate: build models
	$(TIMING_LOCK) bash scripts/calibrate-gate.sh $(CALIBRATE_ARGS)

# Repeats the quick cpu_vision sweep and prints how often one sweep's figures fall inside
# another's intervals, and whether the recommendations agree (docs/statistics.md, "How a sweep measures").
calibrate-sweep: build models
	bash scripts/calibrate-sweep.sh 5

clean:
	rm -rf bin results reports $(MODELS_DIR)
