# The project's command list: the README documents these, CI runs `make test` through .ci/run.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: venv test unit soak lint demo bench build emulate local-invoke deploy clean

## Python tools the tests use: moto's server (local S3 + Secrets Manager) and aws-sam-cli (the
## Lambda runtime interface emulator and `sam validate`).
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Every test: unit, simulator, CLI, adapters against moto, the release Lambda binary under the emulator.
test: venv
	sam validate --lint --template template.yaml --region us-east-1
	cargo build --release --bin zoom-log-puller
	cargo test --workspace --all-targets

## Fast tests without the Python tools (the use case, pure functions, the simulator).
unit:
	cargo test --workspace --lib

## The randomized model test on random seeds, for as long as asked (`make test` runs 40 fixed ones):
## `make soak SEED=1000 CASES=5000`. A failing case prints its seed; it becomes a named regression test.
SEED ?=
CASES ?= 500
soak:
	MODEL_SEED=$(SEED) MODEL_CASES=$(CASES) cargo test --release --lib pull::model::soak -- --ignored --nocapture

lint: venv
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	sam validate --lint --template template.yaml

clean:
	cargo clean
	rm -rf $(VENV) out

## A local Zoom simulator, one pull into out/demo with a local state file, and what was written.
demo:
	cargo build --bin zoomlogs -p zoom-log-puller
	cargo build -p zoom-sim
	scripts/demo.sh

## Figures, no assertions: one run over 20,000, 200,000 and 600,000 events per log type (pages,
## objects, time, peak memory); backfills run after run against a slow simulator in every order
## (runs, calls against the minimum, peak memory, CPU); the late-events re-check's calls.
bench:
	cargo build --release --bin zoomlogs -p zoom-log-puller
	cargo build --release -p zoom-sim
	scripts/bench.sh

## The arm64 Lambda package (target/lambda/zoom-log-puller/bootstrap). Needs cargo-lambda and zig
## (`pip install cargo-lambda` brings both) and `rustup target add aarch64-unknown-linux-gnu`.
## It asks nothing: a missing tool is an error naming it (cargo-lambda would otherwise offer an
## interactive menu to install zig), and cargo-lambda gets no terminal input.
build:
	@command -v cargo-lambda >/dev/null || { echo "make build: cargo-lambda is missing: pip install cargo-lambda (it brings zig), or cargo install cargo-lambda" >&2; exit 1; }
	@command -v zig >/dev/null || python3 -m ziglang version >/dev/null 2>&1 || { echo "make build: zig is missing: pip install ziglang, or put zig on PATH" >&2; exit 1; }
	cargo lambda build --release --arm64 --bin zoom-log-puller </dev/null

## The release Lambda binary under the runtime emulator against the simulator and moto (no Docker).
emulate: venv
	cargo build --release --bin zoom-log-puller --bin zoomlogs -p zoom-log-puller
	cargo build --release -p zoom-sim
	$(PY) scripts/emulate.py

## `sam local invoke` with the sample scheduled event, against real AWS (needs Docker and a deployed secret/bucket).
local-invoke:
	sam build
	sam local invoke ZoomLogPullerFunction -e events/scheduled.json

deploy:
	sam build
	sam deploy --guided
