# One command per job. Each creates .venv and installs the pinned toolchain first if needed.
#   make book   -> executed HTML book in _build/html
#   make test   -> the whole test suite
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PY     := .venv/bin/python
STAMP  := .venv/.installed

.PHONY: book pdf test hub hub-deps hub-down release autograde grade feedback export clean-book

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

book: $(STAMP)
	.venv/bin/jupyter-book build . --warningiserror --nitpick --keep-going

# The whole book as one PDF, _build/pdf/book.pdf: a single-page build (chapters come from the
# execution cache that `make book` fills) printed by headless Chromium (tools/build_pdf.py).
pdf: $(STAMP)
	bash tools/install_sysdeps.sh
	.venv/bin/python tools/build_pdf.py

# Two pytest-xdist workers (tests/conftest.py groups the tests so module fixtures run once);
# WORKERS=0 runs in one process.
WORKERS ?= 2
test: $(STAMP)
	bash tools/install_sysdeps.sh
	$(MAKE) --no-print-directory hub-deps || echo "make: could not install hub/node_modules (npm); tests/test_hub.py will skip"
	.venv/bin/python -m pytest -n $(WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

# The course on JupyterHub on this machine, as root (hub/README.md): `make hub` creates the
# accounts and the exchange (hub/setup.sh) and runs the hub on 127.0.0.1:8000 until Ctrl+C;
# `make hub-down` removes what setup made. hub-deps: configurable-http-proxy from npm (lock file).
HUB_DEPS := hub/node_modules/.installed
$(HUB_DEPS): hub/package.json hub/package-lock.json
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	touch $(HUB_DEPS)

hub-deps: $(HUB_DEPS)

hub: $(STAMP) $(HUB_DEPS)
	bash hub/setup.sh
	cd "$${NNHUB_STATE:-/srv/nn-course-hub}" && $(CURDIR)/.venv/bin/jupyterhub -f $(CURDIR)/hub/jupyterhub_config.py

hub-down:
	bash hub/teardown.sh

# Instructor steps (nbgrader, configured by nbgrader_config.py). A=assignment name, e.g. A=ch01_linear.
release: $(STAMP)
	for a in $(if $(A),$(A),$$(ls solutions)); do .venv/bin/nbgrader generate_assignment $$a --force || exit 1; done

autograde: $(STAMP)
	.venv/bin/nbgrader autograde $(A)

# The whole class in parallel, sandboxed, with a report (coursegrade/README.md). W=workers.
grade: $(STAMP)
	.venv/bin/python -m coursegrade autograde $(A) $(if $(W),--workers $(W),)

feedback: $(STAMP)
	.venv/bin/nbgrader generate_feedback $(A)

export: $(STAMP)
	.venv/bin/nbgrader export --to grades.csv

clean-book:
	rm -rf _build
