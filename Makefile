# Tidal: make run (demo, no cluster) and make test (the whole suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_CSV := .tidal/demo-history.csv
STORE := .tidal/history.db

.PHONY: run test lint setup bench clean debs
# Debian packages the suite runs for real (Prometheus, headless Chromium, load generators):
# `make test` installs whichever is missing (as root, with apt-get); nothing is skipped.
DEBS := prometheus chromium hey wrk
DEB_BINS := prometheus chromium hey wrk

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	mkdir -p .tidal
	$(BIN)/tidal-recommender demo --output $(DEMO_CSV) --days 8 --seed 42
	$(BIN)/tidal-recommender ingest $(DEMO_CSV) --store $(STORE)
	$(BIN)/tidal-recommender recommend --store $(STORE) --policy examples/demo-vpas.yaml --gpu-model A100-80GB
	@echo
	$(BIN)/tidal-recommender report --store $(STORE) --workloads examples/demo-workloads.yaml \
		--policy examples/demo-vpas.yaml --gpu-model A100-80GB

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

debs:
	@missing=$$(for b in $(DEB_BINS); do command -v $$b >/dev/null || echo $$b; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages for the suite (missing: $$missing)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEBS) >/dev/null; \
	fi

test: $(STAMP) debs lint
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/recommender_bench.py
	$(BIN)/python benchmarks/webhook_load.py

clean: cluster-down
	rm -rf $(VENV) .tidal

# Local Kubernetes control plane (tests/e2e/cluster.py, docs/playground.md). The binaries
# are built once into ~/.cache/tidal/bin/<key>/; e2e tests start their own cluster.
.PHONY: controlplane cluster-up cluster-down

controlplane: $(STAMP)
	$(BIN)/python -m tests.e2e.cluster build

NODES ?= 0  # make cluster-up NODES=1: also kube-scheduler and hollow nodes, so pods run
cluster-up: $(STAMP)
	$(BIN)/python -m tests.e2e.cluster up --nodes $(NODES)

cluster-down: dev-down
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) -m tests.e2e.cluster down

# `make dev`: on that cluster, the webhook and the recommender run on this host (TLS on
# 127.0.0.1, logs in .tidal/logs/) and are registered like manifests/ installs them
# (scripts/dev.py, docs/playground.md). `make cluster-down` stops them too.
.PHONY: dev dev-down dev-status bench-e2e

dev: $(STAMP)
	$(BIN)/python -m scripts.dev up

dev-down:
	$(if $(wildcard $(BIN)/python),$(BIN)/python -m scripts.dev down,@true)

dev-status: $(STAMP)
	$(BIN)/python -m scripts.dev status

# Pod-creation latency through a throwaway control plane: no webhook, Tidal's, upstream VPA's
# (built once from benchmarks/upstream-vpa/go.mod into ~/.cache/tidal/bin/).
bench-e2e: $(STAMP)
	$(BIN)/python benchmarks/e2e_admission.py
