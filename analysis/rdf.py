#!/usr/bin/env python
"""Radial distribution functions g(r) of a trajectory, optionally against a reference.

  python analysis/rdf.py traj.dump --ref ref.xyz --pairs O-O,O-H --plot rdf.png
"""

from egraff.analysis.cli import rdf, run_script

if __name__ == "__main__":
    run_script(rdf)
