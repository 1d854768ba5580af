# Two entry points: `make run` (the main job) and `make test` (the whole suite).
# Both create .venv, install torch==2.13.0 FIRST (any other torch request pulls a
# multi-GB CUDA build), then the project with its extras, pinned by constraints.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.adderflow-installed

# System tools some tests drive for real (headless Chromium for the report screenshot,
# Icarus Verilog for the RTL testbenches).
# Installed through apt when running as root; elsewhere those tests skip with the command.
APT_TOOLS := chromium iverilog

.PHONY: run test lint install sysdeps clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[train,dev,hw,hls]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/adderflow run $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

sysdeps:
	@missing=""; for t in $(APT_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "note: install$$missing (apt-get install -y$$missing) to run every test"; fi

test: $(STAMP) sysdeps lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
