# byol3d: the two commands a reader needs are `make report` and `make test`; both set themselves up.
SHELL := /bin/bash
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?= quick
DATA    ?= data/synthrooms
# System packages: open3d needs libusb at import time; the browser test drives Debian's headless Chromium.
APT_PACKAGES := libusb-1.0-0 chromium

.PHONY: setup system-deps test data report bench lab tensorboard

setup: $(VENV)/.installed
# JupyterLab settings of this environment only: double-clicking a paired .py opens it as a notebook (jupytext).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
LAB_ARGS ?=

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing   (then re-run make)"; exit 1; \
	  fi; \
	fi

$(VENV)/.installed: requirements.txt pyproject.toml | system-deps
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (byol3d)" >/dev/null
	@touch $@

test: setup $(LAB_SETTINGS)
	$(PY) -m pytest

# The default data: SynthRooms generated in ScanNet's raw layout, then preprocessed like real ScanNet.
data: setup $(DATA)/processed/summary.json

$(DATA)/processed/summary.json:
	$(PY) -c "from byol3d.data.default import ensure_default_data; ensure_default_data('$(DATA)/raw', '$(DATA)/processed')"

report: data
	$(PY) -m byol3d.report.build --profile $(PROFILE) --data $(DATA)/processed --param raw_root=$(abspath $(DATA))/raw

# Explore interactively: JupyterLab on notebooks/ with the project's kernel; open 01_data first.
lab: data $(LAB_SETTINGS)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

$(LAB_SETTINGS): $(VENV)/.installed
	@mkdir -p $(dir $@)
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' > $@

bench: setup
	$(PY) bench/ops.py
	$(PY) bench/model.py

# TensorBoard over every run folder under runs/ (tags byol/* and probe/<method>/*); open the address it prints.
tensorboard: setup
	$(PY) -m tensorboard.main --logdir runs
