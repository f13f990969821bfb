# Class-conditional diffusion pipeline: train (TorchSharp) -> export (ONNX) -> runtime (ONNX Runtime) -> eval.
# Every command takes its own flags through ARGS, unchanged:  make train ARGS='--config configs/mnist.json --epochs 3'
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CONFIG ?= Release
ARGS ?=
# dotnet that can load TorchSharp here (a patched private copy on Debian 12; the system one elsewhere)
TS_DOTNET = $(shell scripts/torchsharp-env.sh --print)/dotnet
DOTNET_FLAGS = -c $(CONFIG) --nologo
export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1

.DEFAULT_GOAL := help
.PHONY: help setup torchsharp data build train bench-train test clean

help: ## list the targets
	@echo "Diffusion pipeline. First: 'make setup', then 'make train export'; tests: 'make test'."
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: torchsharp data ## restore packages, fetch data, prepare the TorchSharp runtime
	dotnet restore Pipeline.sln

torchsharp: ## prepare a dotnet that can load TorchSharp (idempotent)
	@scripts/torchsharp-env.sh

data: ## fetch MNIST and Fashion-MNIST into data/ and verify SHA-256
	@scripts/fetch-data.sh

build: torchsharp ## build everything
	$(TS_DOTNET) build Pipeline.sln $(DOTNET_FLAGS)

train: torchsharp data ## train a model (default config configs/mnist.json); ARGS passes flags
	$(TS_DOTNET) run --project train/Diffusion.Train $(DOTNET_FLAGS) -- train $(ARGS)

bench-train: torchsharp ## measure training images/s per model preset (ARGS: --presets, --batch-size, --steps, --threads, --out)
	$(TS_DOTNET) run --project train/Diffusion.Train $(DOTNET_FLAGS) -- bench-train $(ARGS)

test: torchsharp data ## run every test project
	$(TS_DOTNET) build Pipeline.sln $(DOTNET_FLAGS)
	$(TS_DOTNET) test Pipeline.sln $(DOTNET_FLAGS) --no-build $(ARGS)

clean: ## remove build outputs
	dotnet clean Pipeline.sln $(DOTNET_FLAGS) >/dev/null || true
	find . -name bin -o -name obj -type d -prune -exec rm -rf {} +
