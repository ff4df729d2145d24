"""The numbers of the leaderboard, each computed from a stored file by one function.

- static errors from ``predictions.npz`` (the evaluate step): energy MAE of the total energy (what the
  study's logs report) and per atom, force MAE and RMSE (per component), stress MAE where the test
  frames carry stress;
- structure errors from ``distributions.npz`` (the analyse step): Wright's factor and Jensen–Shannon
  divergence (base 2, not its square root) of the model's RDF (and ADF) against the reference's, via
  :mod:`egraff.analysis.metrics`.

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
    (eV/Å³, NaN without stress)."""
    p = np.load(predictions)
    energy = np.abs(p["energy_pred"] - p["energy_true"])
    force = p["forces_pred"] - p["forces_true"]
    stress = np.abs(p["stress_pred"] - p["stress_true"])
    stress = stress[np.isfinite(stress)]
    return {"energy_mae_total": float(energy.mean()), "energy_mae_per_atom": float((energy / p["n_atoms"]).mean()),
            "force_mae": float(np.abs(force).mean()),
            "force_rmse": float(np.sqrt((force ** 2).mean())),
            "stress_mae": float(stress.mean()) if stress.size else float("nan")}


def structure_errors(distributions: Path) -> dict:
    """WF and JSD (bits) of the total RDF, mean JSD over the ADF triplets (NaN where the analysis had none)."""
    from egraff.analysis import jsd_base2, wright_factor

    d = np.load(distributions)
    result = {"rdf_wright_factor": float("nan"), "rdf_jsd_base2": float("nan"), "adf_jsd_base2": float("nan")}
    if "rdf_total_g" in d:
        result["rdf_wright_factor"] = wright_factor(d["rdf_total_g"], d["rdf_total_g_ref"])
        result["rdf_jsd_base2"] = jsd_base2(d["rdf_total_g"], d["rdf_total_g_ref"])
    adf = [jsd_base2(d[k], d[k + "_ref"]) for k in d.files
           if k.startswith("adf_") and k.endswith("_p") and d[k].sum() > 0 and d[k + "_ref"].sum() > 0]
    if adf:
        result["adf_jsd_base2"] = float(np.mean(adf))
    return result
