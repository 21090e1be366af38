# perflab's GitHub Action image (action.yml: runs.using docker). Two stages:
#   build    Go + libtorch-dev: builds /usr/local/bin/perflab (cgo) and exports the built-in
#            models to TorchScript with Debian's python3-torch (what `make build models` does).
#   runtime  debian:bookworm-slim with the runtime libraries only: libtorch1.13 (and what it
#            depends on) and OpenBLAS (pthread), no compiler, no Python, no -dev packages.
# Everything comes from Debian's archive and Docker's official images: nothing is downloaded
# from anywhere else (weights are seeded, not fetched: see models/export.py).

# Debian bookworm's golang (1.19) is too old for go.mod's `go 1.26`: the official Go image,
# itself Debian bookworm, provides the toolchain; libtorch comes from Debian as at runtime.
FROM golang:1.26-bookworm AS build

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      g++ libtorch-dev libopenblas0-pthread python3-torch python3-torchvision \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .

# Built-in models -> /out/share/perflab/models, where an installed binary looks for them
# (<exe>/../share/perflab/models). /usr/bin/python3: Debian's, the one with torch.
RUN /usr/bin/python3 models/export.py --out /out/share/perflab/models

ARG PERFLAB_VERSION=action
RUN CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/perflab/perflab/internal/env.Version=${PERFLAB_VERSION}" \
      -o /out/bin/perflab ./cmd/perflab

FROM debian:bookworm-slim AS runtime

# libtorch1.13 provides libtorch_cpu.so.1.13 and libc10.so.1.13 (perflab's NEEDED entries,
# besides libstdc++/libgcc/libc) and pulls in every library they load. libopenblas0-pthread:
# Debian's libtorch uses whatever libblas.so.3 resolves to, and the reference BLAS is ~40x
# slower; point the alternatives at OpenBLAS (pthread), as scripts/setup.sh does.
# ca-certificates: HTTPS to the GitHub API.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends libtorch1.13 libopenblas0-pthread ca-certificates \
 && update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 \
 && update-alternatives --set liblapack.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3 \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*

COPY --from=build /out/bin/perflab /usr/local/bin/perflab
COPY --from=build /out/share/perflab/models /usr/local/share/perflab/models

# Fail the image build, not the first workflow run, when a library is missing.
RUN perflab --version && ldd /usr/local/bin/perflab | (! grep "not found")

# No USER instruction: "Docker actions must be run by the default Docker user (root). Do not
# use the USER instruction in your Dockerfile, because you won't be able to access the
# GITHUB_WORKSPACE directory." (GitHub Docs, "Dockerfile support for GitHub Actions", USER).
# No WORKDIR either: the runner mounts the workspace and makes it the working directory.
ENTRYPOINT ["/usr/local/bin/perflab"]
CMD ["action"]
