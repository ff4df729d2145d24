"""Same weights, same numbers: the deployed egraff file against each upstream package's own code.

NequIP and Allegro against nequip's ``NequIPCalculator`` (the model built by nequip's builders, with
its own per-type scales and shifts), MACE against ``mace.calculators.MACECalculator`` (a ``.model``
file imported with ``egraff.deploy.upstream.load_mace``), BOTNet against mace-torch's ``ScaleShiftMACE`` built
from the study's BOTNet arguments, and the TorchMD-Net equivariant
transformer against torchmd-net's ``TorchMD_Net.forward`` (its own neighbour search). Float64,
periodic triclinic crystal and a molecule; tolerances 1e-8."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk

from egraff.deploy import EGraFFCalculator
from egraff.deploy.export import deploy
from egraff.deploy.upstream import load_mace, nequip_energy_model

from .conftest import R_MAX, TYPE_NAMES, crystal, molecule

STRUCTURES = [crystal, molecule]


def assert_same_results(atoms, ours, theirs, stress: bool):
    atoms.calc = ours
    energy, forces, energies = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_potential_energies()
    our_stress = atoms.get_stress() if stress else None
    atoms.calc = theirs
    assert np.abs(forces).max() > 0.05
    assert abs(atoms.get_potential_energy() - energy) <= 1e-8
    assert np.abs(atoms.get_forces() - forces).max() <= 1e-8
    assert np.abs(atoms.get_potential_energies() - energies).max() <= 1e-8
    if stress:
        assert np.abs(atoms.get_stress() - our_stress).max() <= 1e-8


def nequip_tiny(builder_name: str):
    """A float64 nequip-framework model built by nequip's own builder, with non-trivial scale/shift."""
    from egraff.models import body_hyperparameters, hyperparameters
    from egraff.models.nequip_model import nequip_global_state

    scale_shift = dict(per_type_energy_scales={"Cu": 40.0, "Au": 55.0}, per_type_energy_shifts={"Cu": -3.0, "Au": -4.5})
    with nequip_global_state():
        if builder_name == "nequip":
            from nequip.model import NequIPGNNModel

            return NequIPGNNModel(seed=3, model_dtype="float64", type_names=list(TYPE_NAMES), r_max=R_MAX,
                                  **body_hyperparameters(hyperparameters("nequip", "tiny")), **scale_shift)
        from allegro.model import AllegroModel

        from egraff.models.allegro_model import upstream_arguments

        return AllegroModel(seed=3, model_dtype="float64", type_names=list(TYPE_NAMES), r_max=R_MAX,
                            **upstream_arguments(**body_hyperparameters(hyperparameters("allegro", "tiny"))),
                            **scale_shift)


@pytest.fixture
def nequip_default_dtype():
    """nequip's data code builds positions in torch's default dtype, which its global state sets to
    float64; egraff restores the caller's default after building, so set it for the reference here."""
    from egraff.models.nequip_model import nequip_global_state

    with nequip_global_state():
        torch.set_default_dtype(torch.float64)
        yield


@pytest.mark.parametrize("architecture", ["nequip", "allegro"])
def test_nequip_framework_matches_nequip_calculator(architecture, tmp_path, nequip_default_dtype):
    from nequip.integrations.ase import NequIPCalculator
    from nequip.integrations.utils import basic_transforms, handle_chemical_species_map

    graph_model = nequip_tiny(architecture).eval()
    model = nequip_energy_model(graph_model)
    assert model.architecture == architecture and model.num_layers == (1 if architecture == "allegro" else 2)
    ours = EGraFFCalculator(deploy(model, tmp_path / f"{architecture}.pt"))
    transforms = basic_transforms(graph_model.metadata, R_MAX, list(TYPE_NAMES),
                                  handle_chemical_species_map(True, list(TYPE_NAMES)))
    theirs = NequIPCalculator(graph_model, device="cpu", transforms=transforms)
    for structure in STRUCTURES:
        assert_same_results(structure(), ours, theirs, stress=structure is crystal)


def test_mace_model_file_matches_mace_calculator(tmp_path):
    """A ScaleShiftMACE with non-zero E0s, scale and shift, pickled as mace_run_train saves it, then
    `egraff export --from mace`."""
    from mace.calculators import MACECalculator
    from typer.testing import CliRunner

    from egraff.cli import app
    from egraff.models import build

    torch.manual_seed(2)
    mace_model = build("mace", TYPE_NAMES, R_MAX).body.mace_model  # a plain mace-torch ScaleShiftMACE
    energies = mace_model.atomic_energies_fn.atomic_energies
    energies.copy_(torch.tensor([-3.25, -4.75], dtype=energies.dtype).reshape(energies.shape))
    mace_model.scale_shift.scale.fill_(8.0)
    mace_model.scale_shift.shift.fill_(0.1)
    path = tmp_path / "tiny.model"
    torch.save(mace_model, path)

    model = load_mace(path)
    assert (model.type_names, model.r_max, model.num_layers, model.model_dtype) == (TYPE_NAMES, R_MAX, 2, "float64")
    result = CliRunner().invoke(app, ["export", "--from", "mace", str(path), "-o", str(tmp_path / "mace.pt")])
    assert result.exit_code == 0, result.output
    ours = EGraFFCalculator(tmp_path / "mace.pt")
    theirs = MACECalculator(model_paths=str(path), device="cpu", default_dtype="float64")
    for structure in STRUCTURES:
        assert_same_results(structure(), ours, theirs, stress=structure is crystal)


def test_botnet_matches_mace_torch_built_with_the_study_arguments(tmp_path):
    """egraff's ``botnet`` (paper preset) against mace-torch's ``ScaleShiftMACE`` built here from the study's
    BOTNet command line (configs/botnet/md17/aspirin/aspirin.sh: --correlation=1 --num_interactions=5
    --hidden_irreps='16x0e+16x1o+16x2e' --r_max=5.0; the fork's defaults for the rest, its first interaction
    RealAgnosticResidualInteractionBlock), on the same weights: egraff's energy scale and species shifts are
    mace's scale and E0s. Energies, forces and stress to 1e-10 on ethanol, free and in a periodic 6 Å cell."""
    import numpy as np
    from ase.build import molecule as ase_molecule
    from e3nn import o3
    from mace import modules
    from mace.calculators import MACECalculator

    from egraff.models import build

    elements, e0s, scale = ("H", "C", "O"), [-13.66, -1029.28, -2042.03], 3.0
    torch.manual_seed(6)
    ours = build("botnet", elements, 5.0, preset="paper", avg_num_neighbors=7.5)
    with torch.no_grad():  # like trained weights: no zero biases or initialisation symmetries
        for parameter in ours.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    ours.set_energy_scale_shift(scale=scale, shifts=dict(zip(elements, e0s)))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # mace stores its E0s in the default dtype
    try:
        theirs = modules.ScaleShiftMACE(
            r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3, correlation=1, num_interactions=5,
            interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            interaction_cls_first=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
            hidden_irreps=o3.Irreps("16x0e+16x1o+16x2e"), MLP_irreps=o3.Irreps("16x0e"), gate=torch.nn.functional.silu,
            radial_MLP=[64, 64, 64], num_elements=3, atomic_numbers=[1, 6, 8], atomic_energies=np.array(e0s),
            avg_num_neighbors=7.5, atomic_inter_scale=scale, atomic_inter_shift=0.0)
    finally:
        torch.set_default_dtype(previous)
    weights = {k: v for k, v in ours.body.mace_model.state_dict().items()
               if not k.startswith(("atomic_energies_fn", "scale_shift"))}
    missing, unexpected = theirs.load_state_dict(weights, strict=False)
    assert sorted(missing) == ["atomic_energies_fn.atomic_energies", "scale_shift.scale", "scale_shift.shift"]
    assert not unexpected
    egraff_calc = EGraFFCalculator(deploy(ours.eval(), tmp_path / "botnet.pt"))
    mace_calc = MACECalculator(models=theirs.eval(), device="cpu", default_dtype="float64")

    free = ase_molecule("CH3CH2OH")
    free.positions += np.random.default_rng(3).normal(scale=0.05, size=free.positions.shape)
    periodic = free.copy()
    periodic.cell, periodic.pbc = np.diag([6.0, 6.5, 7.0]), True  # images within r_max
    for atoms in (free, periodic):
        for _ in range(3):
            atoms.calc = egraff_calc
            energy, forces = atoms.get_potential_energy(), atoms.get_forces()
            stress = atoms.get_stress() if atoms.pbc.all() else None
            atoms.calc = mace_calc
            assert np.abs(forces).max() > 0.05
            assert abs(atoms.get_potential_energy() - energy) <= 1e-10
            assert np.abs(atoms.get_forces() - forces).max() <= 1e-10
            if stress is not None:
                assert np.abs(atoms.get_stress() - stress).max() <= 1e-10


@pytest.mark.parametrize("study_graph", [False, True])
def test_torchmd_et_matches_torchmdnet_forward(tmp_path, study_graph):
    """Upstream builds its own neighbour list (minimum image: cubic box ≥ 2 r_max); energies and
    forces equal those of the egraff file fed with egraff's edges — with egraff's graph (vector cutoff) and
    with the study's (no vector cutoff, max_num_neighbors 32 as configs/torchmdnet/md17/*/*.yaml)."""
    from torchmdnet.models.model import create_model

    from egraff.models import body_hyperparameters, hyperparameters
    from egraff.models.base import EnergyModel
    from egraff.models.torchmd_et_model import TorchMDETBody, upstream_args

    torch.manual_seed(4)
    params = body_hyperparameters(hyperparameters("torchmd-et", "tiny", study_graph=study_graph))
    scale = 30.0  # upstream's std (training-data scale) is egraff's energy_scale
    args = upstream_args(R_MAX, "float64", **params)
    assert args["vector_cutoff"] is not study_graph and args["max_num_neighbors"] == 32
    upstream = create_model(args, std=torch.tensor(scale)).double().eval()
    with torch.no_grad():  # non-zero biases: without the vector cutoff they make the value messages jump at r_max
        for parameter in upstream.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    body = TorchMDETBody(upstream, [29, 79], 32 if study_graph else 0)
    model = EnergyModel(body, architecture="torchmd-et", type_names=TYPE_NAMES, r_max=R_MAX, num_layers=3,
                        hyperparameters=params).double()
    model.set_energy_scale_shift(scale=scale)
    ours = EGraFFCalculator(deploy(model, tmp_path / "et.pt"))

    periodic = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))  # 7.2 Å box
    periodic.positions += np.random.default_rng(2).normal(scale=0.12, size=periodic.positions.shape)
    periodic.symbols[::3] = "Au"
    for atoms, box in [(molecule(), None), (periodic, torch.tensor(periodic.cell.array))]:
        z = torch.tensor(atoms.numbers)
        energy, forces = upstream(z, torch.tensor(atoms.positions), box=box)
        for _ in range(3):
            atoms.calc = ours
            assert np.abs(atoms.get_forces()).max() > 0.05
            assert abs(atoms.get_potential_energy() - float(energy.detach())) <= 1e-8
            assert np.abs(atoms.get_forces() - forces.detach().numpy()).max() <= 1e-8
            atoms.calc = None
