"""The numbers of the leaderboard, each computed from a stored file by one function.

- static errors from ``predictions.npz`` (the evaluate step): energy MAE per atom, force MAE and RMSE
  (per component), stress MAE where the test frames carry stress;
- structure errors from ``distributions.npz`` (the analyze step): Wright's factor and Jensen–Shannon
  divergence of the model's RDF (and ADF) against the reference's, by :func:`structure_errors`
  (:func:`egraff.analysis.evaluate.structure_errors` on the stored arrays).

The leaderboard is built with these functions and a test recomputes it with them from the same files,
so no number in it is typed or copied by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egraff.files import atomic_path


def save_npz(path: Path, **arrays) -> Path:
    """``numpy.savez`` written atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez(stream, **arrays)
    return Path(path)


def static_errors(predictions: Path) -> dict:
    """Energy MAE per atom (eV/atom), force MAE and RMSE (eV/Å), stress MAE (eV/Å³, NaN without stress)."""
    p = np.load(predictions)
    energy = np.abs(p["energy_pred"] - p["energy_true"]) / p["n_atoms"]
    force = p["forces_pred"] - p["forces_true"]
    stress = np.abs(p["stress_pred"] - p["stress_true"])
    stress = stress[np.isfinite(stress)]
    return {"energy_mae_per_atom": float(energy.mean()), "force_mae": float(np.abs(force).mean()),
            "force_rmse": float(np.sqrt((force ** 2).mean())),
            "stress_mae": float(stress.mean()) if stress.size else float("nan")}


def structure_errors(distributions: Path) -> dict:
    """WF and JSD of the total RDF, mean JSD over the ADF triplets (NaN where the analysis had none)."""
    from egraff.analysis.evaluate import structure_errors as from_arrays

    with np.load(distributions) as stored:
        return from_arrays(dict(stored))
