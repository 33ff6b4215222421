# The two commands of README.md: `make demo` (the main job) and `make test` (the test suite).
.PHONY: setup demo test test-slow lint bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/phyneo run workflows/dmc.yaml --profile quick   # the whole pipeline for pure DMC (timings: docs/pipeline.md)
	.venv/bin/phyneo report dmc -o reports

test: setup
	.venv/bin/python -m pytest -q

test-slow: setup
	.venv/bin/python -m pytest -q -m slow

lint: setup
	.venv/bin/ruff check .
