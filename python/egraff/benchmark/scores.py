"""The numbers of the leaderboard, each computed from a stored file by one function.

- static errors from ``predictions.npz`` (the evaluate step): energy MAE of the total energy (what the
  study's logs report) and per atom, force MAE and RMSE (per component), stress MAE where the test
  frames carry stress;
- structure errors from ``distributions.npz`` (the analyze step): Wright's factor and Jensen–Shannon
  divergence (base 2, not its square root) of the model's RDF (and ADF) against the reference's, by
  :func:`structure_errors` (:func:`egraff.analysis.evaluate.structure_errors` on the stored arrays).

The leaderboard is built with these functions and a test recomputes it with them from the same files,
so no number in it is typed or copied by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from egraff.files import atomic_open


def save_npz(path: Path, **arrays) -> Path:
    """``numpy.savez`` written atomically (temporary file in the same folder, then rename)."""
    with atomic_open(path) as stream:
        np.savez(stream, **arrays)
    return Path(path)


def static_errors(predictions: Path) -> dict:
    """Energy MAE of the total energy (eV) and per atom (eV/atom), force MAE and RMSE (eV/Å), stress MAE
    (eV/Å³, NaN without stress); all NaN where the model refused a frame (NaN predictions)."""
    p = np.load(predictions)
    energy = np.abs(p["energy_pred"] - p["energy_true"])
    force = p["forces_pred"] - p["forces_true"]
    stress = np.abs(p["stress_pred"] - p["stress_true"])
    stress = stress[np.isfinite(stress)] if np.isfinite(p["energy_pred"]).all() else np.array([])
    return {"energy_mae_total": float(energy.mean()), "energy_mae_per_atom": float((energy / p["n_atoms"]).mean()),
            "force_mae": float(np.abs(force).mean()),
            "force_rmse": float(np.sqrt((force ** 2).mean())),
            "stress_mae": float(stress.mean()) if stress.size else float("nan")}


def structure_errors(distributions: Path) -> dict:
    """WF and JSD (bits) of the total RDF, mean JSD over the ADF triplets (NaN where the analysis had none)."""
    from egraff.analysis.evaluate import structure_errors as from_arrays

    with np.load(distributions) as stored:
        return from_arrays(dict(stored))
