#!/usr/bin/env python
"""Mean-squared displacement and diffusion coefficients per element.

  python analysis/msd.py traj.dump --types 1=O,2=H --timestep 0.0005 --elements O
"""

from egraff.analysis.cli import msd, run_script

if __name__ == "__main__":
    run_script(msd)
