# segserve: `make run` serves the API on 127.0.0.1:8080 with the embedded default model;
# `make test` runs every test. Both install what they need first.
.PHONY: deps python-deps test-deps build run segment test bench load fixtures

IMAGE ?=
OUT ?= out

deps:
	./scripts/install-deps.sh

python-deps:
	./scripts/install-python.sh

test-deps:
	./scripts/install-test-deps.sh

build: deps
	swift build -c release --product segserve

run: build
	.build/release/segserve serve

segment: build
	@if [ -z "$(IMAGE)" ]; then echo "usage: make segment IMAGE=path/to/photo.jpg [OUT=folder]"; exit 2; fi
	.build/release/segserve segment --model models/default "$(IMAGE)" --out "$(OUT)"

test: deps python-deps test-deps
	swift build --build-tests
	swift build -c release --product segserve  # tools/tests/test_hostile_inputs.py runs the release build
	swift test --skip-build
	SEGSERVE_NO_AVX512=1 swift test --skip-build --filter 'NNRuntimeTests|LDMSegTests'  # the paths of CPUs without AVX-512
	python3 -m pytest -q tools || [ $$? -eq 5 ]  # 5: no Python tests collected

bench: deps python-deps
	./scripts/bench.sh

fixtures: python-deps
	python3 tools/reference/make_fixtures.py
