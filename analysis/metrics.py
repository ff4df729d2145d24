#!/usr/bin/env python
"""EGraFFBench metrics of a model run against a reference run: WF, JSD, EV, FV.

  python analysis/metrics.py model.xyz --ref reference.xyz --pairs Li-S --triplets P-S-P
"""

from egraff.analysis.cli import metrics, run_script

if __name__ == "__main__":
    run_script(metrics)
