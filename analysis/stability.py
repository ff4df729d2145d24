#!/usr/bin/env python
"""Time to failure: bond-length (0.5 A) or windowed RDF-MAE criterion (Fu et al.).

  python analysis/stability.py md.xyz --ref dft.xyz --timestep 0.0005
  python analysis/stability.py water.dump --ref ref.dump --criterion rdf --threshold 3.0 --timestep 0.001
"""

from egraff.analysis.cli import stability, run_script

if __name__ == "__main__":
    run_script(stability)
