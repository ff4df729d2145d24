"""The leaderboard's numbers from scripted runs: mean ± spread over the MD starts, and the headline sentence
computed from the numbers (Spearman's ρ known in advance)."""

from __future__ import annotations

import numpy as np
import pytest

from egraff.benchmark.leaderboard import MD, aggregate_runs, headline


def scripted_runs(stable, violations, failed=()):
    return [{"md_status": "failed" if k in failed else "completed",
             **{key: float("nan") for key, _ in MD}, "stable_ps": s, "energy_violation": v}
            for k, (s, v) in enumerate(zip(stable, violations))]


def test_ten_starts_give_mean_and_sample_standard_deviation():
    stable = [1.0, 0.2, 0.35, 1.0, 1.0, 0.05, 0.8, 1.0, 0.6, 0.1]
    violations = [0.01, float("nan"), 0.03, 0.02, float("nan"), 0.05, 0.01, 0.02, 0.04, 0.03]
    result = aggregate_runs(scripted_runs(stable, violations, failed=(1, 2, 5, 8, 9)))
    assert (result["n_runs"], result["n_failed"]) == (10, 5)
    assert result["stable_ps"] == pytest.approx(np.mean(stable), rel=1e-14)
    assert result["stable_ps_spread"] == pytest.approx(np.std(stable, ddof=1), rel=1e-14)
    finite = [v for v in violations if v == v]  # a start without EV/FV does not count as zero
    assert result["energy_violation"] == pytest.approx(np.mean(finite), rel=1e-14)
    assert result["energy_violation_spread"] == pytest.approx(np.std(finite, ddof=1), rel=1e-14)
    assert np.isnan(result["force_violation"]) and np.isnan(result["force_violation_spread"])
    single = aggregate_runs(scripted_runs([0.5], [0.1]))
    assert single["stable_ps"] == 0.5 and np.isnan(single["stable_ps_spread"])


def scripted_rows(force, stable, wf, case="in_distribution/md17_aspirin"):
    return [{"case": case, "task": case.split("/")[0], "model": f"m{k}", "force_mae": f, "stable_ps": s,
             "stable_ps_spread": 0.0, "wright_factor_all_frames": w, "wright_factor_all_frames_spread": 0.0}
            for k, (f, s, w) in enumerate(zip(force, stable, wf))]


def test_the_headline_sentence_is_computed_from_the_numbers():
    # ranks of stable time against force MAE: d = (-4, -2, 0, 3, 3), Σd² = 38, ρ = 1 − 6·38 / (5·24) = −0.9;
    # WF increases with force MAE: ρ = +1
    rows = scripted_rows([0.1, 0.2, 0.3, 0.4, 0.5], [5.0, 4.0, 3.0, 1.0, 2.0], [0.01, 0.02, 0.03, 0.04, 0.05])
    text, points = headline(rows)
    assert len(points) == 5
    assert text.startswith("Across 5 model × case pairs, force MAE and stable time have Spearman ρ = -0.90 (p = 0.037")
    assert "a strong rank correlation, lower force error goes with longer stable time" in text
    assert "force MAE and WF (all frames) have Spearman ρ = +1.00" in text
    assert "In 1 of 1 cases the model with the lowest force MAE is also the most stable" in text

    # now the lowest error is the least stable in one case and ties for the most stable in another
    rows = (scripted_rows([0.1, 0.2, 0.3], [0.5, 1.0, 0.8], [0.3, 0.2, 0.1], "in_distribution/a")
            + scripted_rows([0.1, 0.2, 0.3], [1.0, 1.0, 0.2], [0.1, 0.2, 0.3], "unseen_molecules/b"))
    text, _ = headline(rows)
    # force ranks 1.5 3.5 5.5 1.5 3.5 5.5, stable ranks (ties averaged) 2 5 3 5 5 1: ρ = Pearson of the ranks
    force_ranks, stable_ranks = [1.5, 3.5, 5.5, 1.5, 3.5, 5.5], [2, 5, 3, 5, 5, 1]
    assert f"Spearman ρ = {np.corrcoef(force_ranks, stable_ranks)[0, 1]:+.2f}" in text
    assert "In 1 of 2 cases the model with the lowest force MAE is also the most stable" in text
    assert "unseen_molecules/b" in text and "in_distribution/a" not in text.split("cases")[-1]


def test_no_correlation_without_spread():
    text, _ = headline(scripted_rows([0.1, 0.2, 0.3], [1.0, 1.0, 1.0], [0.1, 0.2, 0.3]))
    assert "force MAE and stable time have no rank correlation to compute over 3 pairs (every pair has the same " \
           "stable time)" in text


def test_torchmd_graphs_side_by_side_pair_the_same_case_and_seed():
    from egraff.benchmark.leaderboard import _torchmd_section
    from egraff.benchmark.report import Document

    def row(model, case, force, stable):
        return {"case": case, "seed": 0, "model": model, "force_mae": force, "stable_ps": stable,
                "stable_ps_spread": 0.1, "wright_factor_all_frames": float("nan"), "energy_violation": float("nan")}

    rows = [row("torchmd-et", "a/x", 0.05, 1.0), row("torchmd-et-study", "b/y", 0.07, 0.2),
            row("torchmd-et-study", "a/x", 0.06, 0.4), row("torchmd-et", "b/y", 0.04, 0.9), row("mace", "a/x", 0.01, 1.0)]
    doc = Document("t")
    _torchmd_section(doc, rows)
    text = doc.markdown()
    assert "| a/x | 0 | 0.05 | 0.06 | 1 ± 0.1 | 0.4 ± 0.1 | n/a | n/a | n/a | n/a |" in text
    assert "| b/y | 0 | 0.04 | 0.07 | 0.9 ± 0.1 | 0.2 ± 0.1 |" in text
