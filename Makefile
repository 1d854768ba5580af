# Two entry points: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv, install torch==2.13.0 FIRST (any other torch request pulls a
# multi-GB CUDA build), then the project with its extras, pinned by constraints.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.adderflow-installed

.PHONY: run test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/adderflow run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
