# One-command setup and tests for egraff.
#   make setup   create .venv: torch 2.13.0 (CPU) first, then everything else under constraints.txt,
#                system libraries OVITO needs, and egraff itself with its LAMMPS plugin
#   make test    setup, then the whole test suite (what .ci/run calls)
#   make demo    setup, then the main job
#   make speed   setup, then the speed benchmarks in bench/ (JSON in bench/results/)
# A second `make setup` reuses .venv while constraints.txt and pyproject.toml are unchanged, and
# rebuilds egraff only when its sources changed.

VENV        ?= .venv
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip --disable-pip-version-check -q
CONSTRAINTS := constraints.txt
PYTEST_ARGS ?=
# OVITO loads these at run time (notes/analysis.md); Debian package names.
SYSTEM_LIBS := libgl1 libegl1 libglx0 libglvnd0 libopengl0 libxkbcommon0 libfontconfig1 libfreetype6 \
               libx11-6 libxcb1 libdbus-1-3 libglib2.0-0

DEPS_STAMP   := $(VENV)/.egraff-deps
EGRAFF_STAMP := $(VENV)/.egraff-installed
SOURCES      := $(shell find python lammps_plugins -type f -not -name '*.pyc' 2>/dev/null) CMakeLists.txt

.PHONY: setup system-libs test demo speed clean

setup: $(EGRAFF_STAMP)

system-libs:
	@missing=$$(for p in $(SYSTEM_LIBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system libraries: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(DEPS_STAMP): $(CONSTRAINTS) pyproject.toml | system-libs
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
	  print('\n'.join(p['build-system']['requires'] + p['project']['dependencies'] + p['project']['optional-dependencies']['test']))" \
	  > $(VENV)/egraff-requirements.txt
	$(PIP) install -c $(CONSTRAINTS) -r $(VENV)/egraff-requirements.txt
	$(PIP) install -c $(CONSTRAINTS) --no-deps mace-torch
	@touch $@

$(EGRAFF_STAMP): $(DEPS_STAMP) $(SOURCES) pyproject.toml
	$(PIP) install -c $(CONSTRAINTS) --no-build-isolation --no-deps .
	@touch $@

# pytest exits 5 when it collected no test: that is a failure here, like any non-zero status.
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/egraff demo

speed: setup
	$(PY) bench/plugin_overhead.py

clean:
	rm -rf build $(VENV)
