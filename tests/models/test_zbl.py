"""The ZBL short-range prior (``zbl=True``, training config ``model.zbl``) on every architecture.

* The prior itself equals two independent implementations of the ZBL universal screened nuclear
  repulsion: nequip's ``ZBL`` module (same polynomial switch-off at r_max) and LAMMPS ``pair_style zbl``
  (below its inner cutoff, where LAMMPS adds only a constant).
* For every architecture: atoms pushed closer than the shortest distance of real training data (MD17
  ethanol) get exactly the learned energy plus the ZBL energy of every pair; forces stay the exact negative
  gradient; energy and force stay continuous where a pair leaves r_max; the deployed file carries the prior.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from egraff.models import ARCHITECTURES, build
from egraff.models.base import ZBLRepulsion

from conftest import read_dump, run_lmp
from .conftest import TYPE_NAMES, central_difference_forces, crystal, energy_and_forces, lammps_data, lammps_script

TYPES = ("H", "C", "O")  # ethanol's elements (the LAMMPS test uses conftest's TYPE_NAMES)
Z = {"H": 1, "C": 6, "O": 8}
R_MAX = 3.5


def zbl_of_pairs(atoms: Atoms, r_max: float) -> float:
    """Sum over atom pairs closer than r_max of the switched ZBL energy, from ASE's distances (not egraff's graph)."""
    prior = ZBLRepulsion([Z[t] for t in TYPES], r_max).double()
    distances = atoms.get_all_distances()
    i, j = np.triu_indices(len(atoms), 1)
    r = torch.tensor(distances[i, j])
    numbers = torch.tensor(atoms.numbers, dtype=torch.float64)
    pair = prior.pair_energy(r, numbers[i], numbers[j]) * prior.envelope(r)
    return float(pair[r < r_max].sum())


def dimer_graph(r: np.ndarray, z_i: int, z_j: int):
    """Edge vectors, edge index and types of isolated pairs (one per distance) along x, both directions."""
    count = len(r)
    vectors = np.zeros((2 * count, 3))
    vectors[:count, 0], vectors[count:, 0] = r, -r
    first, second = np.arange(0, 2 * count, 2), np.arange(1, 2 * count, 2)
    edge_index = np.stack([np.concatenate([first, second]), np.concatenate([second, first])])
    types = np.tile([TYPES.index(_symbol(z_i)), TYPES.index(_symbol(z_j))], count)
    return torch.tensor(vectors), torch.tensor(edge_index), torch.tensor(types)


def _symbol(z: int) -> str:
    return next(t for t, n in Z.items() if n == z)


PAIRS = [(1, 1), (1, 8), (6, 8), (8, 8)]


@pytest.mark.parametrize("z_i, z_j", PAIRS)
def test_zbl_prior_matches_nequip_zbl(z_i, z_j):
    """Switched per-atom energies on isolated pairs from 0.2 Å to beyond r_max: ours = nequip.nn.pair_potential.ZBL."""
    from nequip.nn.pair_potential import ZBL

    from egraff.models.nequip_model import nequip_global_state

    r = np.linspace(0.2, R_MAX + 0.3, 40)
    vectors, edge_index, types = dimer_graph(r, z_i, z_j)
    ours = ZBLRepulsion([Z[t] for t in TYPES], R_MAX).double()(vectors, edge_index, types)
    with nequip_global_state():
        torch.set_default_dtype(torch.float64)
        theirs = ZBL(type_names=list(TYPES), chemical_species=list(TYPES), units="metal", polynomial_cutoff_p=6,
                     irreps_in={"normed_edge_lengths": None})
        lengths = vectors.norm(dim=1, keepdim=True)
        data = {"pos": torch.zeros(len(types), 3), "edge_index": edge_index, "atom_types": types,
                "edge_vectors": vectors, "edge_lengths": lengths, "normed_edge_lengths": lengths / R_MAX}
        theirs = theirs(data)["atomic_energy"].reshape(-1)
    assert float(ours.max()) > 1.0 and float(ours[-4:].abs().max()) == 0.0  # strong at short range, off beyond r_max
    assert (ours - theirs).abs().max() <= 1e-10


def test_zbl_prior_matches_lammps_pair_zbl(tmp_path):
    """LAMMPS ``pair_style zbl 3.0 3.4`` on an O-H dimer below its inner cutoff (3.0 Å), where its switching
    function is a constant: forces equal -dE/dr of our unswitched pair energy, energies differ by one constant."""
    r = np.linspace(0.25, 2.0, 15)
    lines = ["units metal", "atom_style atomic", "atom_modify map yes", "boundary f f f", "region box block -10 10 -10 10 -10 10",
             "create_box 2 box", "create_atoms 1 single 0 0 0", "create_atoms 2 single 1.0 0 0", "mass * 1.0",
             "pair_style zbl 3.0 3.4", "pair_coeff 1 1 8 8", "pair_coeff 1 2 8 1", "pair_coeff 2 2 1 1",
             "thermo_style custom step pe", "thermo 1"]
    for k, distance in enumerate(r):
        lines += [f"set atom 2 x {float(distance)!r}", "run 0 post no",
                  f'print "ZBL {k} $(pe:%.17g) $(fx[2]:%.17g)"']
    result = run_lmp("\n".join(lines) + "\n", tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    rows = np.array([[float(w) for w in line.split()[2:]] for line in result.stdout.splitlines()
                     if line.startswith("ZBL ")])
    assert rows.shape == (len(r), 2)
    prior = ZBLRepulsion([8, 1], R_MAX).double()
    distance = torch.tensor(r, requires_grad=True)
    energy = prior.pair_energy(distance, torch.full_like(distance, 8.0), torch.full_like(distance, 1.0))
    (slope,) = torch.autograd.grad(energy.sum(), distance)
    energy, force = energy.detach().numpy(), -slope.numpy()  # force on the H atom along +x
    assert energy.max() > 50.0
    assert np.abs(rows[:, 1] - force).max() <= 1e-10 * np.abs(force).max()
    offset = rows[:, 0] - energy
    assert np.abs(offset - offset[-1]).max() <= 1e-10 * np.abs(energy).max()


# --- the prior inside every architecture ---------------------------------------------------------------

@pytest.fixture(scope="module")
def ethanol(mirror, tmp_path_factory):
    """A training frame of MD17 ethanol and the shortest interatomic distance of the whole training split."""
    import os

    from egraff import data

    previous = os.environ.get("EGRAFF_DATA_MIRROR")
    os.environ["EGRAFF_DATA_MIRROR"] = str(mirror)
    try:
        frames = data.load("md17_ethanol", "train", cache=tmp_path_factory.mktemp("cache"), progress=False)
    finally:
        os.environ.pop("EGRAFF_DATA_MIRROR") if previous is None else os.environ.update(EGRAFF_DATA_MIRROR=previous)
    shortest = min(float(a.get_all_distances()[np.triu_indices(len(a), 1)].min()) for a in frames)
    frame = frames[0].copy()
    frame.calc = None
    return frame, shortest


_PAIRS: dict = {}


def model_pair(architecture: str):
    """The same (perturbed, scaled) weights with and without the prior, built once per architecture."""
    if architecture not in _PAIRS:
        torch.manual_seed(21)
        with_prior = build(architecture, TYPES, R_MAX, zbl=True)
        with torch.no_grad():
            for parameter in with_prior.parameters():
                parameter.add_(0.1 * torch.randn_like(parameter))
        without = build(architecture, TYPES, R_MAX)
        weights = {k: v for k, v in with_prior.state_dict().items() if not k.startswith("zbl.")}
        without.load_state_dict(weights)
        probe = Atoms("COH", positions=[[0, 0, 0], [1.4, 0, 0], [1.9, 0.9, 0]])
        scale = 1.0 / np.abs(energy_and_forces(without, probe)[1]).max()  # learned forces ~1 eV/Å, as trained ones
        for model in (with_prior, without):
            model.set_energy_scale_shift(scale=scale, shifts={"H": -13.6, "C": -1029.3, "O": -2042.0})
        _PAIRS[architecture] = (with_prior.eval(), without.eval())
    return _PAIRS[architecture]


def squeezed(frame: Atoms, distance: float) -> Atoms:
    """``frame`` with its hydroxyl H moved along the O-H bond to ``distance`` from the O."""
    atoms = frame.copy()
    oxygen = int(np.flatnonzero(atoms.numbers == 8)[0])
    hydrogen = int(np.argmin(np.where(atoms.numbers == 1, atoms.get_distances(oxygen, range(len(atoms))), np.inf)))
    bond = atoms.positions[hydrogen] - atoms.positions[oxygen]
    atoms.positions[hydrogen] = atoms.positions[oxygen] + distance * bond / np.linalg.norm(bond)
    return atoms


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_prior_below_the_shortest_training_distance(ethanol, architecture):
    """Pushing ethanol's hydroxyl H into its O, below the shortest distance of the 950 training frames:
    the model with the prior = the model without it + the ZBL energy of every pair (to 1e-10 eV), and the
    energy rises steeply (the learned part alone says nothing reliable there)."""
    frame, shortest = ethanol
    with_prior, without = model_pair(architecture)
    energies = []
    for distance in np.linspace(0.3, 0.9 * shortest, 5):
        atoms = squeezed(frame, distance)
        assert np.sort(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)])[0] == pytest.approx(distance)
        energy = [energy_and_forces(m, atoms)[0] for m in (with_prior, with_prior, with_prior, without)]
        assert energy[0] == energy[1] == energy[2]  # three calls in a row
        assert abs(energy[0] - energy[3] - zbl_of_pairs(atoms, R_MAX)) <= 1e-10 * max(1.0, abs(energy[0]))
        energies.append(energy[0])
    assert np.all(np.diff(energies) < 0) and energies[0] - energies[-1] > 20.0  # repulsive: > 20 eV from 0.3 Å


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_prior_forces_are_minus_the_energy_gradient(ethanol, architecture):
    """Central differences (h = 1e-5 Å) on the squeezed O and H and one more atom match the autograd forces."""
    frame, shortest = ethanol
    with_prior, _ = model_pair(architecture)
    atoms = squeezed(frame, 0.5 * shortest)
    _, forces = energy_and_forces(with_prior, atoms)
    close = np.argsort(atoms.get_all_distances()[np.triu_indices(len(atoms), 1)])[0]
    pair = [int(k) for k in np.array(np.triu_indices(len(atoms), 1))[:, close]]
    moved = pair + [0]
    numeric = central_difference_forces(with_prior, atoms, 1e-5, moved)
    assert np.abs(numeric - forces[moved]).max() <= 1e-6 * max(1.0, np.abs(forces).max())
    assert np.abs(forces[pair]).max() > 10.0  # the prior's force, not the learned ~1 eV/Å


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_prior_switches_off_smoothly_at_r_max(architecture):
    """An O-H pair across r_max: energy and force of the model with the prior are continuous, and so is the
    prior itself (its energy and force vanish there), while it is not negligible at 0.7 r_max."""
    with_prior, without = model_pair(architecture)
    results = {}
    for offset in (-1e-7, 1e-7, -0.3 * R_MAX):
        atoms = Atoms("OH", positions=[[0.0, 0.0, 0.0], [R_MAX + offset, 0.0, 0.0]])
        results[offset] = [energy_and_forces(m, atoms) for m in (with_prior, without)]
    (inside, inside_plain), (outside, outside_plain) = results[-1e-7], results[1e-7]
    assert abs(inside[0] - outside[0]) <= 1e-9
    assert np.abs(inside[1] - outside[1]).max() <= 1e-6
    assert abs(inside[0] - inside_plain[0]) <= 1e-12 and np.abs(inside[1] - inside_plain[1]).max() <= 1e-9
    near, near_plain = results[-0.3 * R_MAX]
    assert near[0] - near_plain[0] > 1e-4


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_deployed_file_carries_the_prior(ethanol, tmp_path, architecture):
    from egraff.data.graph import atoms_graph
    from egraff.deploy import load_deployed
    from egraff.deploy.export import deploy

    frame, shortest = ethanol
    with_prior, without = model_pair(architecture)
    deployed, _ = load_deployed(deploy(with_prior, tmp_path / "zbl.pt"))
    atoms = squeezed(frame, 0.4 * shortest)
    graph = atoms_graph(atoms, TYPES, R_MAX)
    inputs = (torch.tensor(graph.edge_vectors), torch.tensor(graph.edge_index), torch.tensor(graph.atom_types))
    expected = with_prior(*inputs).detach()
    assert float(expected.sum() - without(*inputs).detach().sum()) > 10.0
    for _ in range(3):
        node_energy, _ = deployed(*inputs, torch.tensor(len(atoms)))
        assert (node_energy - expected).abs().max() <= 1e-10


def test_prior_needs_element_type_names():
    with pytest.raises(ValueError, match="the ZBL prior needs element symbols as type names; X1 is not"):
        build("nequip", ["H", "X1"], R_MAX, zbl=True)


@pytest.mark.mpi
@pytest.mark.parametrize("architecture", ["allegro", "nequip"])
def test_lammps_runs_the_prior_from_the_file(tmp_path, architecture):
    """The unchanged plugin on 2 ranks (ghost mode for Allegro, ghostmp for NequIP) gives the ASE calculator's
    forces and per-atom energies for a file with the prior, on the periodic crystal with one pair at 0.8 Å."""
    from egraff.deploy import EGraFFCalculator
    from egraff.deploy.export import deploy

    torch.manual_seed(5)
    model = build(architecture, TYPE_NAMES, R_MAX, zbl=True).eval()
    path = deploy(model, tmp_path / "zbl.pt")
    atoms = crystal()
    bond = atoms.positions[1] - atoms.positions[0]
    atoms.positions[1] = atoms.positions[0] + 0.8 * bond / np.linalg.norm(bond)
    data = lammps_data(atoms, tmp_path / "squeezed.data")
    result = run_lmp(lammps_script(path, {"squeezed": (data.name, True)}), tmp_path, nprocs=2)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    dump = read_dump(tmp_path / "squeezed.dump")
    atoms.calc = EGraFFCalculator(path)
    forces = atoms.get_forces()
    assert np.abs(forces[:2]).max() > 100.0  # the Cu-Au prior at 0.8 Å
    assert np.abs(np.stack([dump["fx"], dump["fy"], dump["fz"]], axis=1) - forces).max() <= 1e-8 * np.abs(forces).max()
    energies = atoms.get_potential_energies()
    assert np.abs(dump["c_pe"] - energies).max() <= 1e-10 * np.abs(energies).max()


def test_energy_shifts_are_fitted_to_what_the_prior_leaves():
    """With the prior on, the least-squares E0s fit E − E_ZBL: frames made as Σ count·E0 + E_ZBL (squeezed
    pairs, where the prior is tens of eV) give back the E0s to 1e-9 eV; fitting E itself would not (> 1 eV off)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from egraff.train.data import GraphDataset, reference_energies

    e0 = {"H": -13.6, "C": -1030.0, "O": -2040.0}
    rng = np.random.default_rng(3)
    frames = []
    for n in range(12):
        symbols = rng.choice(TYPES, size=4 + n % 3)
        positions = rng.uniform(0.0, 2.2, size=(len(symbols), 3))  # close contacts: the prior is large
        atoms = Atoms(symbols, positions=positions)
        energy = sum(e0[s] for s in symbols) + zbl_of_pairs(atoms, R_MAX)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
        frames.append(atoms)
    dataset = GraphDataset(frames, TYPES, R_MAX)
    prior = ZBLRepulsion([Z[t] for t in TYPES], R_MAX).double()
    fitted = reference_energies(dataset, TYPES, "least_squares", prior=prior)
    assert np.abs(np.array(fitted) - [e0[t] for t in TYPES]).max() <= 1e-9
    ignored = reference_energies(dataset, TYPES, "least_squares")
    assert np.abs(np.array(ignored) - [e0[t] for t in TYPES]).max() > 1.0
