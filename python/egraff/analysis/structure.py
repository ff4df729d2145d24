"""Structure: radial distribution functions, coordination numbers, angular distributions and h(r).

Distances come from the project's neighbour list (:func:`egraff.data.graph.neighbor_graph`, vesin cell
lists), so the cost per frame is O(N); periodic images exist only along the trajectory's periodic
axes, and every pair within ``r_max`` is the minimum image because ``r_max`` may not exceed half the
narrowest periodic cell width.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from egraff.analysis._base import AnalysisBase, positive
from egraff.analysis.trajectory import Trajectory, max_minimum_image_radius
from egraff.data.graph import neighbor_graph

#: ``ideal_pairs`` conventions: how many A–B pairs an ideal gas of the same density would have.
#: "distinct": N_A·(N_B − δ_AB) (self pairs excluded; MDAnalysis ``InterRDF`` with ``exclusion_block=(1, 1)``,
#: g → 1 exactly for an ideal gas of N atoms); "all": N_A·N_B (OVITO ``CoordinationAnalysisModifier``, ASE ``get_rdf``).
IDEAL_PAIRS = ("distinct", "all")


def parse_names(spec: str | Sequence, size: int, what: str, elements: Sequence[str]) -> list[tuple[str, ...]]:
    """``"O-O,O-H"`` or ``[("O", "H"), "H-H"]`` → [("O", "O"), ("O", "H"), ...], each name checked."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    parsed = []
    for item in items:
        names = tuple(n.strip() for n in item.split("-")) if isinstance(item, str) else tuple(item)
        if len(names) != size or not all(names):
            example = "-".join(elements[:1] * size) or "-".join(["O"] * size)
            raise ValueError(f"cannot read {what} {item!r}; write {size} element names joined by '-', e.g. {example}")
        unknown = [n for n in names if n not in elements]
        if unknown:
            raise ValueError(f"{what} {'-'.join(names)}: element {unknown[0]} is not in the trajectory, "
                             f"which has {', '.join(elements)}")
        parsed.append(names)
    if not parsed:
        raise ValueError(f"no {what} given")
    return parsed


def pair_key(pair: Sequence[str]) -> str:
    return "-".join(pair)


class PairTable(dict):
    """Results per element pair; "B-A" finds the entry stored as "A-B" (pair quantities are symmetric)."""

    def __missing__(self, key):
        reverse = "-".join(reversed(key.split("-")))
        if reverse != key and dict.__contains__(self, reverse):
            return self[reverse]
        raise KeyError(f"no pair {key!r}; computed: {', '.join(self)}")


def shell_volumes(edges: np.ndarray) -> np.ndarray:
    """Volume of each spherical shell between consecutive bin edges: 4/3·π·(r_{k+1}³ − r_k³)."""
    return 4.0 / 3.0 * np.pi * np.diff(edges**3)


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value on uniform ``edges`` (−1 or len(edges) − 1 outside): arithmetic, then corrected
    against the edges themselves, so a value on an edge lands where ``np.histogram`` puts it (and
    MDAnalysis, which histograms with it); 10× faster than ``searchsorted``."""
    n_bins = len(edges) - 1
    index = np.floor((values - edges[0]) * (n_bins / (edges[-1] - edges[0]))).astype(np.int64)
    np.clip(index, -1, n_bins, out=index)
    inside = (index >= 0) & (index < n_bins)
    index[inside & (values < edges[np.clip(index, 0, n_bins)])] -= 1
    index[inside & (values >= edges[np.clip(index + 1, 0, n_bins)])] += 1
    index[values == edges[-1]] = n_bins - 1  # the last edge is inside the last bin, as np.histogram
    return index


def first_minimum(g: np.ndarray) -> int:
    """Index of the bin that ends the first coordination shell: the lowest g between the highest peak's
    fall below 1 and the next rise back to 1 (robust to noise; the first empty bin in a crystal)."""
    peak = int(np.argmax(g))
    below = np.nonzero(g[peak:] < 1.0)[0]
    if below.size == 0:
        return len(g) - 1
    fall = peak + int(below[0])
    above = np.nonzero(g[fall:] >= 1.0)[0]
    rise = fall + int(above[0]) if above.size else len(g)
    return fall + int(np.argmin(g[fall:rise]))


class RDF(AnalysisBase):
    """Total and partial radial distribution functions g(r), averaged over frames.

    Normalisation (one place, :meth:`normalise`): for the pair A–B,

        g_AB(r_k) = Σ_f V_f · n_AB,f(k) / (F · N_ideal · 4/3·π·(r_{k+1}³ − r_k³))

    with n_AB,f(k) the number of ordered pairs (i ∈ A, j ∈ B, i ≠ j) at a distance in bin k in frame f
    (bins [r_k, r_{k+1}); pairs at exactly r_max are not counted, the neighbour list's cutoff being strict),
    V_f the frame's cell volume, F the number of frames and N_ideal = N_A·(N_B − δ_AB) (``ideal_pairs=
    "distinct"``, the default, as MDAnalysis ``InterRDF(A, B, exclusion_block=(1, 1))``) or N_A·N_B
    (``"all"``, as OVITO and ASE). At constant volume this is MDAnalysis's ``count / (F · shell · N/⟨V⟩)``;
    under NPT the per-frame volume keeps an ideal gas at 1 on average. g_AB = g_BA. The total RDF
    ("total") counts all ordered pairs with N_ideal = N(N − 1) or N².

    A structure that is not periodic along every axis (a molecule, a slab) has no density of its own:
    V_f is then ``volume`` when given, else the frame's cell volume — ASE ``get_rdf``'s "standard solid
    state definition", which EGraFFBench applies to molecules in the box their dataset gives them.

    ``results``: ``edges``, ``bins`` (centres), ``count[pair]`` (summed ordered-pair histogram),
    ``rdf[pair]``, ``coordination[pair]`` (mean number of B atoms within r of an A atom, cumulative
    at the upper bin edges; equals ρ_B ∫ 4πr² g_AB dr with ρ_B = N_ideal / (N_A·V)), ``n_frames``.
    With ``keep_frames=True`` also ``frame_counts`` [F, pairs, bins] (volume-weighted; pair order in ``frame_keys``) for windowed RDFs.
    """

    description = "RDF"

    def __init__(self, trajectory, pairs: str | Sequence | None = None, r_max: float | None = None,
                 n_bins: int | None = None, bin_width: float = 0.05, r_min: float = 0.0,
                 ideal_pairs: str = "distinct", volume: float | None = None, keep_frames: bool = False,
                 verbose: bool = False):
        super().__init__(trajectory, verbose)
        trajectory = self.trajectory
        if ideal_pairs not in IDEAL_PAIRS:
            raise ValueError(f"ideal_pairs must be one of {', '.join(IDEAL_PAIRS)}, not {ideal_pairs!r}")
        self.volumes = self._normalising_volumes(volume)
        limit = max_minimum_image_radius(trajectory)
        r_max = min(limit, 10.0) if r_max is None else float(positive("r_max", r_max, unit="Å"))
        if r_max > limit * (1 + 1e-12):
            raise ValueError(f"r_max {r_max:g} Å exceeds half the narrowest cell width ({limit:.4g} Å) of "
                             f"{trajectory.source}; use r_max ≤ {limit:.4g} so every pair has one minimum image")
        if not 0 <= r_min < r_max:
            raise ValueError(f"need 0 ≤ r_min < r_max, got r_min {r_min:g}, r_max {r_max:g}")
        if n_bins is None:
            n_bins = max(1, int(round((r_max - r_min) / positive("bin_width", bin_width, unit="Å"))))
        n_bins = positive("n_bins", n_bins, integer=True)
        self.edges = np.linspace(r_min, r_max, n_bins + 1)
        self.ideal_pairs = ideal_pairs
        self.keep_frames = keep_frames
        elements = trajectory.elements
        if pairs is None:  # every pair that has pairs: not A-A of a lone A under "distinct" (a molecule's one O)
            alone = {e for e in elements if np.count_nonzero(trajectory.symbols == e) < 2 and ideal_pairs == "distinct"}
            pairs = [(a, b) for k, a in enumerate(elements) for b in elements[k:] if not (a == b and a in alone)]
        # an empty list asks for the total RDF only
        self.pairs = parse_names(pairs, 2, "element pair", elements) if len(pairs) else []
        self.type_of = np.array([elements.index(s) for s in trajectory.symbols])
        self.n_types = len(elements)
        self.elements = elements

    def _normalising_volumes(self, volume: float | None) -> np.ndarray:
        """V_f of each frame: the cell volume, or ``volume`` for a structure that is not periodic everywhere."""
        traj = self.trajectory
        if volume is not None:
            if traj.pbc.all():
                raise ValueError(f"{traj.source} is periodic: its density comes from its cell; give volume only "
                                 "for a molecule or a slab")
            return np.full(traj.n_frames, float(positive("volume", volume, unit="Å³")))
        volumes = traj.volumes
        if not traj.pbc.all() and np.any(volumes < 1e-9):
            raise ValueError(f"{traj.source} is not periodic and has no cell volume to normalise g(r) by; pass "
                             "volume= (e.g. the box of the reference structure), or use DistanceHistogram for h(r)")
        return volumes

    def _prepare(self):
        n_bins = len(self.edges) - 1
        self._count = np.zeros((self.n_types, self.n_types, n_bins))
        self._weighted = np.zeros_like(self._count)
        self._frame_counts = []

    def frame_histogram(self, frame: int) -> np.ndarray:
        """Ordered-pair distance histogram of one frame, [types, types, bins]."""
        traj = self.trajectory
        n_bins = len(self.edges) - 1
        index, vectors, _ = neighbor_graph(traj.positions[frame], traj.cells[frame], traj.pbc, self.edges[-1])
        distance = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        bins = bin_index(distance, self.edges)
        keep = (bins >= 0) & (bins < n_bins)
        code = (self.type_of[index[0, keep]] * self.n_types + self.type_of[index[1, keep]]) * n_bins + bins[keep]
        return np.bincount(code, minlength=self.n_types**2 * n_bins).reshape(self.n_types, self.n_types, n_bins)

    def _single_frame(self, frame: int):
        histogram = self.frame_histogram(frame)
        self._count += histogram
        weighted = histogram * self.volumes[frame]
        self._weighted += weighted
        if self.keep_frames:
            self._frame_counts.append(np.stack([self._select(weighted, p) for p in self._keys()]))

    def _keys(self):
        return [*self.pairs, "total"]

    def _select(self, per_type: np.ndarray, pair) -> np.ndarray:
        """The histogram of one pair (or "total") from the per-type-pair array."""
        if pair == "total":
            return per_type.sum(axis=(0, 1))
        a, b = (self.elements.index(x) for x in pair)
        return per_type[a, b]

    def ideal_pair_count(self, pair) -> float:
        counts = np.bincount(self.type_of, minlength=self.n_types)
        if pair == "total":
            n_a, n_b, same = self.trajectory.n_atoms, self.trajectory.n_atoms, True
        else:
            a, b = (self.elements.index(x) for x in pair)
            n_a, n_b, same = counts[a], counts[b], a == b
        return float(n_a * (n_b - (same and self.ideal_pairs == "distinct")))

    def normalise(self, weighted_count: np.ndarray, n_frames: int, pair) -> np.ndarray:
        """g(r) from a volume-weighted pair histogram summed over ``n_frames`` frames (formula above)."""
        ideal = self.ideal_pair_count(pair)
        if ideal == 0:
            raise ValueError(f"pair {pair_key(pair)} has no distinct pairs (a single {pair[0]} atom)")
        return weighted_count / (n_frames * ideal * shell_volumes(self.edges))

    def _conclude(self):
        r = self.results
        r.edges = self.edges
        r.bins = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.n_frames = self.n_frames
        r.count, r.rdf = PairTable(), PairTable()
        r.coordination = {}  # not symmetric: N_AB counts B around A
        counts = np.bincount(self.type_of, minlength=self.n_types)
        for pair in self._keys():
            key = pair if pair == "total" else pair_key(pair)
            r.count[key] = self._select(self._count, pair)
            r.rdf[key] = self.normalise(self._select(self._weighted, pair), self.n_frames, pair)
            centres = self.trajectory.n_atoms if pair == "total" else counts[self.elements.index(pair[0])]
            r.coordination[key] = np.cumsum(r.count[key]) / (self.n_frames * centres)
        if self.keep_frames:
            r.frame_counts = np.array(self._frame_counts)
            r.frame_keys = [k if k == "total" else pair_key(k) for k in self._keys()]

    def first_shell_coordination(self, pair: str = "total", r_cut: float | None = None) -> tuple[float, float]:
        """(coordination number, shell radius): mean number of neighbours up to ``r_cut`` or, by default,
        up to the first minimum of g after its highest peak."""
        g, edges = self.results.rdf[pair], self.results.edges
        # r_cut on a bin edge counts that bin, whatever the rounding of linspace
        k = first_minimum(g) if r_cut is None else int(np.searchsorted(edges, r_cut * (1 + 1e-12), side="right")) - 2
        return float(self.results.coordination[pair][k]), float(edges[k + 1])


def natural_cutoffs(elements: Sequence[str], skin: float = 0.3) -> dict[tuple[str, str], float]:
    """Bond cutoff per element pair: sum of covalent radii (Cordero et al., Dalton Trans. 2008, 2832) plus
    ``skin``. ASE's ``NeighborList(natural_cutoffs(atoms))``, which Fu et al.'s bond criterion and ASE's
    ``Analysis`` (EGraFFBench's angles) use, returns pairs within the radii sum plus its default 0.3 Å skin."""
    from ase.data import atomic_numbers, covalent_radii

    unknown = [e for e in elements if e not in atomic_numbers]
    if unknown:
        raise ValueError(f"{unknown[0]} is not a chemical element, so it has no covalent radius; map LAMMPS "
                         "types to elements (--types 1=O,2=H) or give an explicit cutoff")
    radius = {e: covalent_radii[atomic_numbers[e]] for e in elements}
    return {(a, b): radius[a] + radius[b] + skin for a in elements for b in elements}


def cutoff_matrix(elements: Sequence[str], cutoff: float | Mapping | None) -> np.ndarray:
    """[types, types] bond cutoffs from one number, a {"A-B": r} mapping (others 0) or natural cutoffs."""
    n = len(elements)
    if cutoff is None:
        table = natural_cutoffs(elements)
        return np.array([[table[a, b] for b in elements] for a in elements])
    if np.isscalar(cutoff):
        return np.full((n, n), float(positive("cutoff", cutoff, unit="Å")))
    matrix = np.zeros((n, n))
    for pair, r in cutoff.items():
        (a, b), = parse_names([pair] if isinstance(pair, str) else [tuple(pair)], 2, "element pair", elements)
        matrix[elements.index(a), elements.index(b)] = matrix[elements.index(b), elements.index(a)] = \
            float(positive(f"cutoff {pair}", r, unit="Å"))
    return matrix


def bonded_edges(trajectory: Trajectory, frame: int, cutoffs: np.ndarray, type_of: np.ndarray):
    """Directed edges (index [2, E], vectors [E, 3]) shorter than the cutoff of their element pair."""
    index, vectors, _ = neighbor_graph(trajectory.positions[frame], trajectory.cells[frame], trajectory.pbc,
                                       float(cutoffs.max()))
    length2 = np.einsum("ij,ij->i", vectors, vectors)
    keep = length2 < cutoffs[type_of[index[0]], type_of[index[1]]] ** 2
    return index[:, keep], vectors[keep]


class ADF(AnalysisBase):
    """Angular distribution functions P(θ) for element triplets A-B-C (B is the vertex).

    An angle θ_jik is counted for a vertex i of element B and an unordered pair of its distinct bonded
    neighbours j (A) and k (C); a neighbour is bonded when closer than the A–B (C–B) cutoff: one number,
    a {"A-B": r} mapping, or by default :func:`natural_cutoffs` (as ASE's ``Analysis.get_angles``).
    Periodic images are handled by the neighbour list.

    ``results``: ``edges``, ``bins`` (degrees), ``count[triplet]`` (angles per bin summed over frames),
    ``adf[triplet]`` (probability density in 1/degree: Σ adf · Δθ = 1), ``angles_per_frame[triplet]``.
    """

    description = "ADF"

    def __init__(self, trajectory, triplets: str | Sequence, cutoff: float | Mapping | None = None,
                 n_bins: int = 180, verbose: bool = False):
        super().__init__(trajectory, verbose)
        elements = self.trajectory.elements
        self.triplets = parse_names(triplets, 3, "element triplet", elements)
        self.elements = elements
        self.type_of = np.array([elements.index(s) for s in self.trajectory.symbols])
        self.cutoffs = cutoff_matrix(elements, cutoff)
        self.edges = np.linspace(0.0, 180.0, positive("n_bins", n_bins, integer=True) + 1)

    def _prepare(self):
        self._count = {t: np.zeros(len(self.edges) - 1) for t in self.triplets}

    def _single_frame(self, frame: int):
        index, vectors = bonded_edges(self.trajectory, frame, self.cutoffs, self.type_of)
        order = np.argsort(index[0], kind="stable")
        centre, neighbour, vectors = index[0, order], index[1, order], vectors[order]
        # all pairs of edges sharing a vertex: edge e pairs with every edge of its vertex's group
        per_vertex = np.bincount(centre, minlength=self.trajectory.n_atoms)
        group_start = np.cumsum(per_vertex) - per_vertex
        group_size = per_vertex[centre]
        first = np.repeat(np.arange(centre.size), group_size)
        second = group_start[centre[first]] + np.arange(first.size) - np.repeat(np.cumsum(group_size) - group_size, group_size)
        keep = first < second
        first, second = first[keep], second[keep]
        u, v = vectors[first], vectors[second]
        cosine = np.einsum("ij,ij->i", u, v) / np.sqrt(np.einsum("ij,ij->i", u, u) * np.einsum("ij,ij->i", v, v))
        angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
        t_vertex, t_first, t_second = (self.type_of[x] for x in (centre[first], neighbour[first], neighbour[second]))
        for triplet in self.triplets:
            a, b, c = (self.elements.index(x) for x in triplet)
            match = (t_vertex == b) & (((t_first == a) & (t_second == c)) | ((t_first == c) & (t_second == a)))
            self._count[triplet] += np.histogram(angle[match], bins=self.edges)[0]

    def _conclude(self):
        r = self.results
        r.edges = self.edges
        r.bins = 0.5 * (self.edges[1:] + self.edges[:-1])
        r.count, r.adf, r.angles_per_frame = {}, {}, {}
        for triplet in self.triplets:
            key = "-".join(triplet)
            total = self._count[triplet].sum()
            r.count[key] = self._count[triplet]
            r.adf[key] = self._count[triplet] / (total * np.diff(self.edges)) if total else np.zeros_like(r.bins)
            r.angles_per_frame[key] = total / self.n_frames


class DistanceHistogram(AnalysisBase):
    """Intramolecular distance histogram h(r) of a molecule (Fu et al., TMLR 2023, "Forces are not Enough", §4).

    All distinct pairs i < j of the whole structure, plain Cartesian distances (the trajectory is one
    molecule), histogrammed on [0, r_max] and normalised as a probability density: Σ h · Δr = 1.
    Unlike Fu et al.'s code (``torch.cdist``), zero self distances are not counted.
    ``results``: ``edges``, ``bins``, ``count``, ``hr``.
    """

    description = "h(r)"

    def __init__(self, trajectory, r_max: float = 10.0, n_bins: int = 500, verbose: bool = False):
        super().__init__(trajectory, verbose)
        if self.trajectory.n_atoms < 2:
            raise ValueError(f"{self.trajectory.source} has fewer than two atoms, so no distances")
        self.edges = np.linspace(0.0, float(positive("r_max", r_max, unit="Å")),
                                 positive("n_bins", n_bins, integer=True) + 1)

    def _prepare(self):
        self._count = np.zeros(len(self.edges) - 1)

    def _single_frame(self, frame: int):
        from scipy.spatial.distance import pdist

        self._count += np.histogram(pdist(self.trajectory.positions[frame]), bins=self.edges)[0]

    def _conclude(self):
        r = self.results
        r.edges, r.bins, r.count = self.edges, 0.5 * (self.edges[1:] + self.edges[:-1]), self._count
        r.hr = self._count / (self._count.sum() * np.diff(self.edges))
