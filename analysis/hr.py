#!/usr/bin/env python
"""Intramolecular distance histogram h(r) of a molecule and its MAE against a reference.

  python analysis/hr.py md.xyz --ref dft.xyz
"""

from egraff.analysis.cli import hr, run_script

if __name__ == "__main__":
    run_script(hr)
