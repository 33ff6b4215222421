"""Atom-centred symmetry-function features for the residual networks (JAX, nm).

Intermolecular features (the pairwise ion network): for each atom i of a dimer, Behler radial functions over
the atoms j of the *other* molecule, one channel per element of j::

    G_i[e, k] = sum_{j in other molecule, element(j) = e} exp(-eta_k (r_ij - rs_k)^2) fc(r_ij)

with the cosine cutoff fc(r) = (cos(pi r / rc) + 1) / 2 for r < rc, 0 beyond. The features are invariant to
rotation, translation and permutation of like atoms, and go smoothly to zero as the molecules separate.

Intramolecular features (the per-molecule network): the same radial functions over the atoms of the *same*
molecule, plus angular functions G4 over pairs of neighbours (zeta, lambda = +-1), one channel per element pair.

Channels may instead be atom classes (``channels="coordination"`` of the residual config): element plus the
number of covalent bonds inside its own molecule (``coordination_classes``), e.g. the carbonyl O of EC is "O1"
and its ring O "O2", which a distance-only element channel cannot tell apart.

Everything works on padded arrays: ``z`` holds element indices (-1 for padding), ``mol`` the molecule label of
each atom (0 or 1 in a dimer), so batches of different sizes share one compiled function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.ff.neighbors import minimum_image  # noqa: E402

DEFAULT_ELEMENTS = ("H", "Li", "C", "O", "F", "P")


@dataclass(frozen=True)
class RadialBasis:
    """Shifted Gaussians on a grid from ``r_min`` to ``cutoff`` (nm), widths equal to the spacing."""

    cutoff: float = 0.6
    n_radial: int = 10
    r_min: float = 0.1

    def __post_init__(self):
        if not self.cutoff > self.r_min > 0:
            raise InputError(f"r_min {self.r_min} nm and cutoff {self.cutoff} nm", field="cutoff_nm",
                             fix="need 0 < r_min < cutoff")
        if self.n_radial < 1:
            raise InputError(f"n_radial = {self.n_radial}", field="n_radial", fix="use at least 1")

    def centres(self) -> np.ndarray:
        return np.linspace(self.r_min, self.cutoff, self.n_radial, endpoint=False)

    def eta(self) -> float:
        width = (self.cutoff - self.r_min) / self.n_radial
        return 0.5 / width**2


def cosine_cutoff(r, rc: float):
    """(cos(pi r / rc) + 1) / 2 inside rc, 0 outside (smooth to first order at rc)."""
    return jnp.where(r < rc, 0.5 * (jnp.cos(jnp.pi * jnp.minimum(r, rc) / rc) + 1.0), 0.0)


def element_indices(symbols: Sequence[str], elements: Sequence[str], where: str = "") -> np.ndarray:
    """Index of each symbol in ``elements``; an element outside the list is an InputError."""
    lookup = {e: k for k, e in enumerate(elements)}
    missing = sorted({s for s in symbols if s not in lookup})
    if missing:
        raise InputError(f"element(s) {', '.join(missing)} {where}not in the network's elements {tuple(elements)}",
                         field="elements", fix="add them to ResidualConfig.elements and retrain")
    return np.array([lookup[s] for s in symbols], dtype=np.int32)


# covalent radii (nm, Cordero et al. 2008) for bond detection inside a molecule
COVALENT_RADII_NM = {"H": 0.031, "Li": 0.128, "B": 0.084, "C": 0.076, "N": 0.071, "O": 0.066, "F": 0.057,
                     "P": 0.107, "S": 0.105, "Cl": 0.102, "Na": 0.166, "K": 0.203}


def coordination_classes(symbols: Sequence[str], positions_nm, bond_scale: float = 1.25) -> list[str]:
    """Class label of each atom of one molecule: element and number of bonded atoms, e.g. ``"O1"``, ``"C4"``.

    Two atoms are bonded when closer than ``bond_scale`` times the sum of their covalent radii (nm)."""
    missing = sorted({s for s in symbols if s not in COVALENT_RADII_NM})
    if missing:
        raise InputError(f"no covalent radius for {', '.join(missing)}", field="channels",
                         fix="use channels='element' or add the radius to features.COVALENT_RADII_NM")
    x = np.asarray(positions_nm, float).reshape(len(symbols), 3)
    rad = np.array([COVALENT_RADII_NM[s] for s in symbols])
    r = np.linalg.norm(x[:, None] - x[None], axis=-1)
    bonded = (r < bond_scale * (rad[:, None] + rad[None])) & ~np.eye(len(symbols), dtype=bool)
    return [f"{s}{int(n)}" for s, n in zip(symbols, bonded.sum(1), strict=True)]


def _displacements(pos, box):
    return minimum_image(pos[None, :, :] - pos[:, None, :], box)


def _safe_norm(d, ok):
    r2 = jnp.sum(d * d, -1)
    return jnp.sqrt(jnp.where(ok, r2, 1.0))


def intermolecular_features(pos, z, mol, basis: RadialBasis, n_elements: int, box=None):
    """Radial features (N, n_elements * n_radial) of each atom over the atoms of the other molecule.

    ``pos`` (N, 3) nm; ``z`` (N,) element index, -1 for padding; ``mol`` (N,) molecule label; ``box`` a 3x3
    matrix (minimum image) or None.
    """
    real = z >= 0
    pair = (mol[:, None] != mol[None, :]) & real[:, None] & real[None, :]
    d = _displacements(pos, box)
    r = _safe_norm(d, pair)
    rs = jnp.asarray(basis.centres())
    g = jnp.exp(-basis.eta() * (r[..., None] - rs) ** 2) * cosine_cutoff(r, basis.cutoff)[..., None]
    g = jnp.where(pair[..., None], g, 0.0)
    onehot = jax.nn.one_hot(z, n_elements)  # padding (-1) gives a zero row
    return jnp.einsum("ijk,je->iek", g, onehot).reshape(pos.shape[0], -1)


@dataclass(frozen=True)
class AngularBasis:
    """G4 angular functions: exp(-eta (r_ij^2 + r_ik^2)) (1 + lam cos theta)^zeta 2^(1-zeta) fc fc."""

    zetas: tuple[float, ...] = (1.0, 4.0)
    lambdas: tuple[float, ...] = (1.0, -1.0)
    eta: float = 10.0  # 1/nm^2

    @property
    def size(self) -> int:
        return len(self.zetas) * len(self.lambdas)


def intramolecular_features(pos, z, radial: RadialBasis, angular: AngularBasis, n_elements: int):
    """Radial (per neighbour element) and angular (per unordered neighbour-element pair) features of each
    atom over the other atoms of the same molecule: (N, n_elements * n_radial + n_pairs * angular.size)."""
    n = pos.shape[0]
    real = z >= 0
    pair = real[:, None] & real[None, :] & ~jnp.eye(n, dtype=bool)
    d = _displacements(pos, None)
    r = _safe_norm(d, pair)
    fc = jnp.where(pair, cosine_cutoff(r, radial.cutoff), 0.0)
    rs = jnp.asarray(radial.centres())
    g = jnp.exp(-radial.eta() * (r[..., None] - rs) ** 2) * fc[..., None]
    onehot = jax.nn.one_hot(z, n_elements)
    rad = jnp.einsum("ijk,je->iek", g, onehot).reshape(n, -1)
    u = d / r[..., None]
    cos = jnp.einsum("ijx,ikx->ijk", u, u)
    radial_part = jnp.exp(-angular.eta * (r[:, :, None] ** 2 + r[:, None, :] ** 2)) * fc[:, :, None] * fc[:, None, :]
    jk_ok = ~jnp.eye(n, dtype=bool)[None]
    terms = []
    for zeta in angular.zetas:
        for lam in angular.lambdas:
            base = jnp.maximum(1.0 + lam * cos, 0.0)
            terms.append(2.0 ** (1.0 - zeta) * base**zeta * radial_part * jk_ok)
    ang = jnp.stack(terms, -1)  # (i, j, k, a)
    iu, ju = np.triu_indices(n_elements)
    pair_onehot = onehot[:, None, iu] * onehot[None, :, ju] + onehot[:, None, ju] * onehot[None, :, iu]
    pair_onehot = jnp.where(jnp.asarray(iu == ju), 0.5 * pair_onehot, pair_onehot)  # (j, k, P)
    angf = 0.5 * jnp.einsum("ijka,jkp->ipa", ang, pair_onehot).reshape(n, -1)
    return jnp.concatenate([rad, angf], axis=1)


def pad_dimers(records, elements: Sequence[str], n_max: int | None = None, coordination: bool = False):
    """Padded arrays (pos (D, N, 3), z (D, N), mol (D, N)) of dimer records (monomer a = 0, b = 1).

    ``z`` indexes ``elements``; with ``coordination`` it indexes atom classes (``coordination_classes`` of each
    monomer) and ``elements`` lists the classes."""
    n_atoms = [len(r.symbols_a) + len(r.symbols_b) for r in records]
    n_max = max(n_atoms) if n_max is None else n_max
    d = len(records)
    pos = np.zeros((d, n_max, 3))
    z = -np.ones((d, n_max), dtype=np.int32)
    mol = -np.ones((d, n_max), dtype=np.int32)
    for k, r in enumerate(records):
        n = n_atoms[k]
        pos[k, :n] = r.positions_nm
        labels = list(r.symbols_a) + list(r.symbols_b)
        if coordination:
            labels = (coordination_classes(r.symbols_a, r.positions_a_nm)
                      + coordination_classes(r.symbols_b, r.positions_b_nm))
        z[k, :n] = element_indices(labels, elements, f"of {r.pair_type} ")
        mol[k, :n] = [0] * len(r.symbols_a) + [1] * len(r.symbols_b)
        # padding sits far away so that it is never within the cutoff of anything
        pos[k, n:] = 1e3 + np.arange(n_max - n)[:, None]
    return pos, z, mol
