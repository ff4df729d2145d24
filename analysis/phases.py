#!/usr/bin/env python
"""Phase fractions over time from OVITO structure identification (PTM, CNA, diamond).

  python analysis/phases.py si.dump --types 1=Si --method diamond
"""

from egraff.analysis.cli import phases, run_script

if __name__ == "__main__":
    run_script(phases)
