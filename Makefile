# tandem: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo eval test lint typecheck unit check-wheel bench bench-thinker bench-responder bench-worker bench-stt bench-interruptions bench-phrasings bench-guardrails bench-session bench-voicemail bench-pool bench-crash bench-capacity clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tandem needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[demo,dev]'
	@touch $(STAMP)

## demo: one simulated phone call, offline, shown live (artifacts in runs/)
demo: $(STAMP)
	$(BIN)/tandem demo

## eval: every scenario in profiles/restaurant/scenarios/, with a report and the latency targets (~6 min)
eval: $(STAMP)
	$(BIN)/tandem eval

## test: lint, format check, strict type check and the test suite
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest
	$(BIN)/pytest -q -p no:cacheprovider examples/tool-plugin/tests

## check-wheel: build the wheel, install it in a fresh venv (first without the demo extra, then
## with it) and run `tandem demo` from it, away from this checkout (~2 min)
check-wheel:
	PYTHON=$(PYTHON) bash .ci/check-wheel

## bench: the Redis bus round-trip benchmark (results go in BENCHMARKS.md)
bench: $(STAMP)
	$(BIN)/python bench/bus_roundtrip.py

## bench-thinker: concurrent tasks one thinker process holds (~5 min)
bench-thinker: $(STAMP)
	$(BIN)/python bench/thinker_capacity.py

## bench-responder: what the delegation path and the floor arbiter add (~1 min)
bench-responder: $(STAMP)
	$(BIN)/python -m bench.responder_floor

## bench-worker: dispatch to live call through LiveKit's job pool, and memory per call (~1 min)
bench-worker: $(STAMP)
	$(BIN)/python -m bench.worker_dispatch

## bench-stt: offline Whisper, short context vs 30 s window: time and word error rate (~1 min)
bench-stt: $(STAMP)
	$(BIN)/python -m bench.offline_stt

## bench-interruptions: backchannels and barge-ins said over a long answer in offline calls (~10 min)
bench-interruptions: $(STAMP)
	$(BIN)/python -m bench.interruptions

## bench-phrasings: booking language understood by the offline demo brains, as text and as Whisper hears it (~1 min)
bench-phrasings: $(STAMP)
	$(BIN)/python -m bench.phrasings
	$(BIN)/python -m bench.phrasings --voice

## bench-guardrails: the guardrail rules on a labelled set: precision, recall, time per check (~10 s)
bench-guardrails: $(STAMP)
	$(BIN)/python -m bench.guardrails

## bench-session: what the session journal costs a call: on its path, live copy, record (~20 s)
bench-session: $(STAMP)
	$(BIN)/python -m bench.session_journal

## bench-voicemail: answering-machine detection on a labelled set: precision, recall, time (~5 s)
bench-voicemail: $(STAMP)
	$(BIN)/python -m bench.voicemail

## bench-pool: tasks/s 1, 2 and 4 thinker processes sustain on one Redis, with pickup p99 (~4 min)
bench-pool: $(STAMP)
	$(BIN)/python -m bench.thinker_pool

## bench-crash: SIGKILL one of 2 thinkers with 200 tasks in flight: time until all are answered, once (~5 min)
bench-crash: $(STAMP)
	$(BIN)/python -m bench.thinker_pool --crash

## bench-capacity: concurrent calls one responder holds, process vs thread executor, past the knee (~11 min)
bench-capacity: $(STAMP)
	$(BIN)/python -m bench.responder_capacity

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
