# One command per job. Each creates .venv and installs the pinned toolchain first if needed.
#   make book   -> executed HTML book in _build/html
#   make test   -> the whole test suite
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PY     := .venv/bin/python
STAMP  := .venv/.installed

.PHONY: book pdf test release autograde grade feedback export clean-book

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
	.venv/bin/python -m pytest -n $(WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

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
