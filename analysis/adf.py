#!/usr/bin/env python
"""Angular distribution functions P(theta) for element triplets.

  python analysis/adf.py traj.xyz --triplets H-O-H --cutoff 1.2 --ref ref.xyz
"""

from egraff.analysis.cli import adf, run_script

if __name__ == "__main__":
    run_script(adf)
