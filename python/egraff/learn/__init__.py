"""``egraff learn``: active learning of a force field, DP-GEN's loop on egraff's parts.

Each iteration trains a committee of models (egraff.train, warm-started from the previous iteration),
explores with LAMMPS MD over the configured systems, temperatures and protocols while the committee
watches from ``pair_style egraff committee`` (egraff.md; deviation in DeePMD-kit's model-deviation file,
``fix halt`` on nonsense), selects the frames whose largest atomic force deviation lies in the trust window
[lo, hi), labels them with a reference (an egraff teacher in LAMMPS, an ASE calculator, or an external
command), and adds them to the training set; until every exploration is stable for its full length and
few frames reach lo. Every step is a job of :mod:`egraff.jobs` (cached, resumable, local or Dask).

::

    from egraff.learn import load_learn_config, run_learn
    result = run_learn(load_learn_config("learn.yaml", ["trust.lo=0.1"]), "egraff-learn")
    result.converged, result.models, result.report

Modules: ``config`` (the schema), ``selection`` (trust classes, cap, convergence), ``reference`` (labels
and their checks), ``steps`` (the job steps), ``loop`` (iterations on the job engine, publishing),
``report`` (Markdown + HTML + PNG).
"""

from egraff.learn.config import LearnConfig, load_learn_config
from egraff.learn.loop import EmptySelection, LearnResult, run_learn, run_loop
from egraff.learn.reference import ReferenceFailed

__all__ = ["EmptySelection", "LearnConfig", "LearnResult", "ReferenceFailed", "load_learn_config", "run_learn",
           "run_loop"]
