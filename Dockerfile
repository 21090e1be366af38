# perflab's GitHub Action image. Users get it prebuilt (action.yml: docker://ghcr.io/...,
# pushed by .github/workflows/release.yml); this repository's CI builds it from this file.
# Stages:
#   models   Debian's python3-torch exports the built-in models to TorchScript. TorchScript
#            files do not depend on the CPU architecture, so this stage runs once, on the
#            build machine's platform, for every target platform; on the target platform it
#            also compiles their AOTInductor packages (.pt2, scalar kernels).
#   build    Go + libtorch-dev: builds /usr/local/bin/perflab (cgo, for the target platform).
#   closure  the runtime's root file system: the binary and the shared libraries it really
#            loads (computed from it: scripts/image-root.sh), OpenBLAS, CA certificates.
#   runtime  FROM scratch: that root and the models; no shell, no compiler, no Python.
#   inductor-root, inductor (built only with --target inductor): the inductor Action's image,
#            the runtime's root plus what compiling a torch.export program really uses.
# Debian trixie: libtorch 2.6 (oneDNN 3.x), python3-torch 2.6; the binding also builds on
# bookworm's 1.13 (BASE_IMAGE=debian:bookworm-slim GO_IMAGE=golang:1.26-bookworm).
# Everything comes from Debian's archive and Docker's official images: nothing is downloaded
# from anywhere else (weights are seeded, not fetched: see models/export.py).
# Platforms: linux/amd64 and linux/arm64 (Debian builds libtorch2.6 for both).

ARG GO_IMAGE=golang:1.26-trixie
ARG BASE_IMAGE=debian:trixie-slim

FROM --platform=$BUILDPLATFORM ${BASE_IMAGE} AS models
ARG DEBIAN_FRONTEND=noninteractive
ARG BUILDPLATFORM
ARG TARGETPLATFORM
# g++, libtorch-dev and python3-setuptools: AOTInductor compiles the packages' C++ kernels
# (this build stage only: the runtime stage has none of them). No libsleef-dev: the kernels
# stay scalar, portable to any CPU of the architecture (docs/runtimes.md, "Scalar or
# vectorised"): a package vectorised for the build machine would be refused on a runner
# CPU without its ISA.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-torch python3-torchvision \
      g++ libtorch-dev python3-setuptools \
 && rm -rf /var/lib/apt/lists/*
COPY models/export.py /src/models/export.py
# Built-in models -> /out/share/perflab/models, where an installed binary looks for them
# (<exe>/../share/perflab/models). /usr/bin/python3: Debian's, the one with torch. The
# AOTInductor packages (<name>.pt2, compile inductor) hold machine code for the build
# platform: written only when it is the target platform (a cross-built image has none, and
# says so at build time). The torch.export programs (<name>.export.pt2) are left out: the
# image cannot compile them (no Python, no compiler at runtime).
RUN if [ -z "$TARGETPLATFORM" ] || [ "$TARGETPLATFORM" = "$BUILDPLATFORM" ]; then aoti=""; \
    else echo "note: $TARGETPLATFORM image built on $BUILDPLATFORM: no AOTInductor packages"; aoti="--aoti none"; fi \
 && /usr/bin/python3 /src/models/export.py --out /out/share/perflab/models $aoti \
 && rm -f /out/share/perflab/models/*.export.pt2

# Debian trixie's golang (1.24) is too old for go.mod's `go 1.26`: the official Go image,
# itself Debian trixie, provides the toolchain; libtorch comes from Debian as at runtime.
FROM ${GO_IMAGE} AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ libtorch-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The version shown in the PR comment's footer and recorded in every record: the release
# workflow passes the tag, this repository's CI the commit (git describe).
ARG PERFLAB_VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/perflab/perflab/internal/env.Version=${PERFLAB_VERSION}" \
      -o /out/bin/perflab ./cmd/perflab

# The runtime's root file system, computed from the built binary: the shared libraries it
# really loads (ldd, with every symbolic link on the way, the BLAS pointed at OpenBLAS as
# scripts/setup.sh does), the CA bundle and a few files (scripts/image-root.sh). Its own
# stage, so that the build stage's layers and the models stage stay as they are.
# libopenblas0-openmp: Debian's libtorch uses whatever libblas.so.3 and libopenblas.so.0
# resolve to; the reference BLAS is ~40x slower, and OpenBLAS's pthread build (Debian's
# default) keeps a second thread pool that competes with libtorch's OpenMP threads (2 threads
# on 2 vCPUs up to ~25x slower): scripts/blas-openmp.sh points the alternatives at the OpenMP
# build, for whatever multiarch triplet this platform has. ca-certificates: HTTPS to the
# GitHub API.
FROM build AS closure
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-openmp ca-certificates \
 && bash scripts/blas-openmp.sh \
 && rm -rf /var/lib/apt/lists/*
RUN bash scripts/image-root.sh /out/bin/perflab /out/root

# The inductor Action's image (inductor/action.yml, ghcr.io/perflab/perflab:vX.Y.Z-inductor;
# docs/image.md, "Inductor"): the lean runtime's root plus what compiling a torch.export
# program with AOTInductor really uses, found by tracing one. This stage has the full
# Debian toolchain (python3-torch, setuptools, g++, libtorch-dev), writes a small probe
# model (scripts/inductor-probe.py: its TorchScript twin and its torch.export program), runs
# `perflab bench --compile inductor` on the program under strace (perflab -> python3 ->
# g++ -> cc1plus, as, ld) and adds to the lean root every file the compile executed or
# opened: object code as opened, any other file with the rest of its package
# (scripts/inductor-root.sh). Built only when asked: --target inductor (make image-inductor).
# strace does not run under QEMU: the release builds this image for linux/amd64 only.
# It starts from the models stage (python3-torch, setuptools, g++, libtorch-dev installed
# already: one apt layer for both) on the build platform, so it refuses another target
# platform (the root would hold the build platform's binaries).
FROM models AS inductor-root
ARG DEBIAN_FRONTEND=noninteractive
ARG BUILDPLATFORM
ARG TARGETPLATFORM
RUN if [ -n "$TARGETPLATFORM" ] && [ "$TARGETPLATFORM" != "$BUILDPLATFORM" ]; then \
      echo "the inductor image is built on its own platform: $TARGETPLATFORM on $BUILDPLATFORM" >&2; exit 1; fi \
 && apt-get update \
 && apt-get install -y --no-install-recommends strace \
 && rm -rf /var/lib/apt/lists/*
COPY --from=closure /out/root /out/root
COPY --from=build /out/bin/perflab /usr/local/bin/perflab
COPY scripts/inductor-root.sh scripts/inductor-probe.py /src/
RUN mkdir -p /out/probe && /usr/bin/python3 /src/inductor-probe.py /out/probe/probe \
 && PERFLAB_AOTI_CACHE=/tmp/aoti strace -f -qq -e trace=execve,open,openat -o /tmp/compile.trace \
      perflab bench --model /out/probe/probe.pt2 --compile inductor --iters 1 --warmup 0 \
 && bash /src/inductor-root.sh /out/root /tmp/compile.trace \
 && rm -rf /tmp/aoti /tmp/compile.trace

FROM scratch AS inductor
COPY --from=inductor-root /out/root /
COPY --from=models /out/share/perflab/models /usr/local/share/perflab/models
ENV PATH=/usr/local/bin:/usr/bin:/bin
# The check: the probe's program compiled again in this image (python3, g++ and the headers
# found here, nothing else), benched and compared with its TorchScript twin; a built-in's
# prebuilt package runs too. A file the trace missed fails the build.
COPY --from=inductor-root /out/probe /tmp/probe
RUN ["/usr/local/bin/perflab", "bench", "--model", "/tmp/probe/probe.pt2", "--compile", "inductor", "--batch-size", "3", "--iters", "1", "--warmup", "0"]
RUN ["/usr/local/bin/perflab", "bench", "--model", "mobilenet_v3_small", "--compile", "inductor", "--iters", "1", "--warmup", "0"]
ARG PERFLAB_VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/perflab/perflab" \
      org.opencontainers.image.description="perflab with AOTInductor: benchmark and gate PyTorch models on libtorch (CPU), compiling torch.export programs" \
      org.opencontainers.image.version="${PERFLAB_VERSION}"
ENTRYPOINT ["/usr/local/bin/perflab"]
CMD ["action"]

# The Action's image: that root and the exported models, nothing else (no shell, no package
# manager, no Python, no compiler). The checks below run every built-in (one timed forward
# each) in the image itself: a missing library fails the build, not the first workflow run.
FROM scratch AS runtime
COPY --from=closure /out/root /
COPY --from=models /out/share/perflab/models /usr/local/share/perflab/models
ENV PATH=/usr/local/bin:/usr/bin:/bin
RUN ["/usr/local/bin/perflab", "--version"]
RUN ["/usr/local/bin/perflab", "bench", "--model", "resnet18", "--iters", "1", "--warmup", "0"]
RUN ["/usr/local/bin/perflab", "bench", "--model", "mobilenet_v3_small", "--compile", "on", "--channels-last", "--iters", "1", "--warmup", "0"]
RUN ["/usr/local/bin/perflab", "bench", "--model", "tiny_transformer", "--iters", "1", "--warmup", "0"]
RUN ["/usr/local/bin/perflab", "bench", "--model", "tiny_transformer", "--quantize", "--iters", "1", "--warmup", "0"]

ARG PERFLAB_VERSION=dev
LABEL org.opencontainers.image.source="https://github.com/perflab/perflab" \
      org.opencontainers.image.description="perflab: benchmark and gate TorchScript models on libtorch (CPU)" \
      org.opencontainers.image.version="${PERFLAB_VERSION}"

# No USER instruction: "Docker actions must be run by the default Docker user (root). Do not
# use the USER instruction in your Dockerfile, because you won't be able to access the
# GITHUB_WORKSPACE directory." (GitHub Docs, "Dockerfile support for GitHub Actions", USER).
# No WORKDIR either: the runner mounts the workspace and makes it the working directory.
ENTRYPOINT ["/usr/local/bin/perflab"]
CMD ["action"]
