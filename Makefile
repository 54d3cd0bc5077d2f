# segserve: `make serve` runs the service on the embedded default model; `make test` runs every test.
.PHONY: deps python-deps build serve test bench

deps:
	./scripts/install-deps.sh

python-deps:
	./scripts/install-python.sh

build: deps
	swift build -c release --product segserve

serve: build
	.build/release/segserve serve

test: deps python-deps
	swift build --build-tests
	swift test --skip-build
	python3 -m pytest -q tools || [ $$? -eq 5 ]  # 5: no Python tests collected

bench: deps python-deps
	./scripts/bench.sh
