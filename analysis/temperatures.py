#!/usr/bin/env python
"""Model vs reference across temperatures: RDF/ADF/D per temperature.

  python analysis/temperatures.py --run 300:m300.dump:r300.dump --run 600:m600.dump:r600.dump --timestep 0.001
"""

from egraff.analysis.cli import temperatures, run_script

if __name__ == "__main__":
    run_script(temperatures)
