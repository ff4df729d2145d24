"""The numbers of the leaderboard, each computed from a stored file by one function.

- static errors from ``predictions.npz`` (the evaluate step): energy MAE per atom, force MAE and RMSE
  (per component), stress MAE where the test frames carry stress;
- structure errors from ``distributions.npz`` (the analyse step): Wright's factor and Jensen–Shannon
  divergence of the model's RDF (and ADF) against the reference's, via :mod:`egraff.analysis.metrics`.

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
    from egraff.analysis import jensen_shannon, wright_factor

    d = np.load(distributions)
    result = {"rdf_wright_factor": float("nan"), "rdf_jsd": float("nan"), "adf_jsd": float("nan")}
    if "rdf_total_g" in d:
        result["rdf_wright_factor"] = wright_factor(d["rdf_total_g"], d["rdf_total_g_ref"])
        result["rdf_jsd"] = jensen_shannon(d["rdf_total_g"], d["rdf_total_g_ref"])
    adf = [jensen_shannon(d[k], d[k + "_ref"]) for k in d.files
           if k.startswith("adf_") and k.endswith("_p") and d[k].sum() > 0 and d[k + "_ref"].sum() > 0]
    if adf:
        result["adf_jsd"] = float(np.mean(adf))
    return result
