"""The physics force field as one differentiable JAX function.

``ForceField(params, molecule_names, settings).terms(positions, box)`` returns the energy of each term in
kJ/mol (positions in nm, box a 3x3 matrix of box vectors as rows, or None for an isolated system with a
direct sum and no cutoff). Forces and the virial come from autodiff (:meth:`ForceField.compute`).

Terms: ``electrostatics`` (permanent multipoles), ``polarization`` (induced dipoles), ``dispersion``,
``dispersion_lrc`` (periodic only), ``slater_exchange``, ``slater_electrostatics``, ``slater_induction``,
``slater_dispersion``, ``slater_dhf`` and ``bonded``.

The induced dipoles are found by preconditioned conjugate gradients on positions held constant; the
energy is then evaluated at those dipoles. Because the polarisation energy is stationary in the dipoles,
its first derivatives with respect to positions and box are exact at convergence (second derivatives are
not provided).
"""

from __future__ import annotations

from typing import Literal

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from pydantic import BaseModel, Field  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.ff import neighbors as nl  # noqa: E402
from phyneo_flows.ff import pme  # noqa: E402
from phyneo_flows.ff.bonded import angle_energy, bond_energy, torsion_energy, wall_energy  # noqa: E402
from phyneo_flows.ff.frames import lab_multipoles  # noqa: E402
from phyneo_flows.ff.multipoles import (  # noqa: E402
    electrostatic_parts,
    induced_induced,
    kvectors,
    make_recip,
    pair_geometry,
    solve_induced,
)
from phyneo_flows.ff.pairwise import dispersion_pair, lrc_coefficient, slater_pair, switch  # noqa: E402
from phyneo_flows.ff.params import SLATER_COMPONENTS, ForceFieldParams  # noqa: E402
from phyneo_flows.ff.topology import FFSystem, build_system  # noqa: E402
from phyneo_flows.units import ONE_4PI_EPS0  # noqa: E402

DEBYE_PER_E_NM = 48.033324  # OpenMM's conversion in its convergence test

TERMS = (
    "electrostatics",
    "polarization",
    "dispersion",
    "dispersion_lrc",
    *[f"slater_{c}" for c in SLATER_COMPONENTS],
    "bonded",
)


class FFSettings(BaseModel):
    """Numerical settings (nm, 1/nm)."""

    cutoff: float = Field(1.0, gt=0, description="real-space and pair cutoff, nm")
    switch_distance: float | None = Field(None, description="start of the switch, nm (default cutoff - 0.1)")
    ewald_alpha: float | None = Field(
        None, gt=0, description="Ewald alpha, 1/nm (default from 1e-6 at cutoff)"
    )
    ewald_precision: float = Field(
        1e-14, gt=0, lt=1, description="reciprocal sum kept while exp(-k^2/4a^2) > this"
    )
    reciprocal: Literal["pme", "ewald"] = Field(
        "pme", description="reciprocal space: smooth PME (order 5, OpenMM's) or the plain Ewald sum (reference)"
    )
    pme_spacing: float = Field(0.04, gt=0, description="largest PME grid spacing, nm (the OpenMM twin's rule)")
    pme_grid: tuple[int, int, int] | None = Field(None, description="PME grid points per box vector (overrides)")
    polarization: Literal["mutual", "direct"] = "mutual"
    induced_tolerance: float = Field(1e-8, gt=0, description="RMS dipole change, Debye (OpenMM's measure)")
    max_iterations: int = 500
    skin: float = Field(0.1, ge=0, description="neighbour-list skin, nm")
    capacity_extra: float = Field(1.3, ge=1.0, description="neighbour-list capacity over the current count")

    def alpha(self) -> float:
        if self.ewald_alpha is not None:
            return self.ewald_alpha
        return float(np.sqrt(-np.log(2e-6)) / self.cutoff)

    def r_switch(self) -> float:
        return self.switch_distance if self.switch_distance is not None else self.cutoff - 0.1

    def grid(self, box) -> tuple[int, int, int]:
        """PME grid for a box (3x3 nm): ``pme_grid`` or points at most ``pme_spacing`` apart."""
        return tuple(self.pme_grid) if self.pme_grid is not None else pme.grid_for(as_box(box), self.pme_spacing)


def as_box(box) -> np.ndarray | None:
    """A 3x3 box matrix from None, an edge length, three lengths or a 3x3 matrix (nm)."""
    if box is None:
        return None
    b = np.asarray(box, dtype=float)
    if b.ndim == 0:
        return np.eye(3) * float(b)
    if b.shape == (3,):
        return np.diag(b)
    if b.shape == (3, 3):
        return b
    raise InputError(
        f"box of shape {b.shape}", field="box", fix="give an edge, 3 lengths or a 3x3 matrix in nm"
    )


class ForceField:
    """The model for one system (a list of molecules, each with parameters in ``params``)."""

    def __init__(
        self,
        params: ForceFieldParams,
        molecule_names: list[str],
        settings: FFSettings | None = None,
        extra_terms: dict | None = None,
    ):
        """``extra_terms``: named JAX callables ``f(positions_nm, box) -> kJ/mol`` (e.g. a residual network's
        :meth:`~phyneo_flows.fitting.residual.ResidualEnsemble.energy_term`) added as terms of their own."""
        self.params = params
        self.extra_terms = dict(extra_terms or {})
        clash = sorted(set(self.extra_terms) & set(TERMS))
        if clash:
            raise InputError(f"extra term(s) {clash} shadow built-in terms", field="extra_terms",
                             fix="give them other names")
        self.settings = settings or FFSettings()
        self.system: FFSystem = build_system(params, molecule_names)
        s = self.system
        self.n = s.n_atoms
        self._arr = {
            "q": jnp.asarray(s.charge),
            "dip": jnp.asarray(s.dipole_local),
            "quad": jnp.asarray(s.quadrupole_local),
            "axis": jnp.asarray(s.axis),
            "frame": jnp.asarray(s.frame),
            "pol": jnp.asarray(s.polarizability),
            "thole": jnp.asarray(s.thole),
            "c6": jnp.asarray(np.sqrt(s.c6)),
            "c8": jnp.asarray(np.sqrt(s.c8)),
            "c10": jnp.asarray(np.sqrt(s.c10)),
            "b": jnp.asarray(np.sqrt(s.b)),
            "a": jnp.asarray(s.a),
            "mol": jnp.asarray(s.mol),
        }
        mol = s.mol
        iu, ju = np.triu_indices(self.n, 1)
        inter = mol[iu] != mol[ju]
        self._all_inter = (jnp.asarray(iu[inter], jnp.int32), jnp.asarray(ju[inter], jnp.int32))
        self._intra = (jnp.asarray(s.intra_pairs[:, 0]), jnp.asarray(s.intra_pairs[:, 1]))
        self._lrc: float | None = None
        self._nvec: jnp.ndarray | None = None
        self.pme_shape: tuple[int, int, int] | None = None
        self._nbrs: nl.NeighborList | None = None
        self._terms_jit = jax.jit(self._terms)
        self._grad_jit = jax.jit(jax.value_and_grad(self._total_and_terms, argnums=(0, 1), has_aux=True))
        # compiled once: an eager lax.cond re-traces (and compiles) both branches at every call (~1.5 s CPU
        # for 1,000 atoms, more than the energy and forces themselves)
        self._nl_update = jax.jit(nl.update, static_argnames=("reach", "skin"))
        self.last_iterations: int | None = None
        self._frames_checked = False

    # ------------------------------------------------------------------------------------------------
    def lrc_coefficient(self) -> float:
        """K with E_lrc = K / V (kJ/mol nm^3)."""
        if self._lrc is None:
            s = self.system
            self._lrc = lrc_coefficient(
                s.c6, s.c8, s.c10, s.b, self.settings.r_switch(), self.settings.cutoff
            )
        return self._lrc

    def ewald_vectors(self, box) -> jnp.ndarray:
        """Reciprocal-space data fixed at the first box: the Ewald k-vectors, or for PME an empty array
        (the grid, :attr:`pme_shape`, is then fixed here)."""
        if self._nvec is None:
            if self.settings.reciprocal == "pme":
                self.pme_shape = self.settings.grid(box)
                self._nvec = jnp.zeros((0, 3))
            else:
                self._nvec = jnp.asarray(
                    kvectors(as_box(box), self.settings.alpha(), self.settings.ewald_precision)
                )
        return self._nvec

    def neighbor_list(self, positions, box, capacity: int | None = None) -> nl.NeighborList:
        """A fresh neighbour list (capacity from the current count unless given)."""
        box = as_box(box)
        reach = self.settings.cutoff + self.settings.skin
        if reach > 0.5 * float(np.min(np.linalg.norm(box, axis=1))):
            raise InputError(
                f"cutoff + skin = {reach:.3f} nm exceeds half the box",
                field="cutoff",
                fix="use a larger box or a shorter cutoff",
            )
        if capacity is not None:
            return nl.build(jnp.asarray(positions), jnp.asarray(box), self._arr["mol"], reach, capacity)
        return nl.allocate(positions, box, self._arr["mol"], reach, self.settings.capacity_extra)

    # ------------------------------------------------------------------------------------------------
    def _multipole_setup(self, pos, box, nbrs, nvec):
        a = self._arr
        st = self.settings
        periodic = box is not None
        alpha = st.alpha()
        if periodic:
            i, j = nbrs.pairs[:, 0], nbrs.pairs[:, 1]
            valid = i < self.n
            i = jnp.where(valid, i, 0)
            j = jnp.where(valid, j, 1)
            cutoff = st.cutoff
        else:
            i, j = self._all_inter
            valid = jnp.ones(i.shape, bool)
            cutoff = None
        mu_p, quad = lab_multipoles(pos, a["dip"], a["quad"], a["axis"], a["frame"])
        inter = pair_geometry(pos, box, i, j, valid, cutoff, alpha, a["pol"], a["thole"])
        ii, jj = self._intra
        intra = pair_geometry(pos, box, ii, jj, jnp.ones(ii.shape, bool), None, alpha, a["pol"], a["thole"])
        if not periodic:
            rc = None
        elif self.settings.reciprocal == "pme":
            if self.pme_shape is None:
                self.pme_shape = self.settings.grid(box)
            rc = pme.setup(pos, box, self.pme_shape, alpha)
        else:
            rc = make_recip(pos, box, nvec, alpha)
        return mu_p, quad, inter, intra, rc

    def _electrostatics(self, pos, box, nbrs, nvec, mu0=None):
        """Permanent and polarisation energy (kJ/mol), CG iterations and the induced dipoles (N, 3; e nm).
        ``mu0`` (e nm) starts the iteration where it is nonzero (the last step's dipoles in MD); all zeros (or
        None) starts from the direct dipoles."""
        a = self._arr
        st = self.settings
        alpha = st.alpha()
        q = a["q"]
        mu_p, quad, inter, intra, rc = self._multipole_setup(pos, box, nbrs, nvec)

        def pol_int(mu, mu_p=mu_p, quad=quad, inter=inter, intra=intra, rc=rc):
            return electrostatic_parts(inter, intra, rc, alpha, q, mu_p, quad, mu)[1] / ONE_4PI_EPS0

        zero = jnp.zeros((self.n, 3))
        perm = electrostatic_parts(inter, intra, rc, alpha, q, mu_p, quad, zero)[0]
        pol = a["pol"]
        has = pol > 0
        if st.polarization == "direct":
            field = -jax.grad(pol_int)(zero)
            e_pol = -0.5 * jnp.sum(jnp.where(has, pol, 0.0)[:, None] * field**2) * ONE_4PI_EPS0
            return perm, e_pol, jnp.asarray(0), jax.lax.stop_gradient(jnp.where(has, pol, 0.0)[:, None] * field)
        frozen = jax.lax.stop_gradient((pos, box))
        sg = self._multipole_setup(frozen[0], frozen[1], nbrs, nvec)

        def pol_frozen(mu):
            return electrostatic_parts(sg[2], sg[3], sg[4], alpha, q, sg[0], sg[1], mu)[1] / ONE_4PI_EPS0

        def quadratic(mu):
            return induced_induced(sg[2], sg[3], sg[4], alpha, mu) / ONE_4PI_EPS0

        mu, it = solve_induced(
            pol_frozen, pol, st.induced_tolerance / DEBYE_PER_E_NM, st.max_iterations, quadratic, mu0
        )
        mu = jax.lax.stop_gradient(mu)
        self_term = 0.5 * jnp.sum(jnp.where(has[:, None], mu**2 / jnp.where(has, pol, 1.0)[:, None], 0.0))
        e_pol = (pol_int(mu) + self_term) * ONE_4PI_EPS0
        return perm, e_pol, it, mu

    def _terms(self, pos, box=None, nbrs=None, nvec=None, lrc=0.0, mu0=None):
        a = self._arr
        s = self.system
        st = self.settings
        out = {}
        out["electrostatics"], out["polarization"], it, mu = self._electrostatics(pos, box, nbrs, nvec, mu0)
        if box is not None:
            i, j = nbrs.pairs[:, 0], nbrs.pairs[:, 1]
            valid = i < self.n
            i = jnp.where(valid, i, 0)
            j = jnp.where(valid, j, 1)
            d = nl.minimum_image(pos[j] - pos[i], box)
            r2 = jnp.sum(d * d, -1)
            ok = valid & (r2 < st.cutoff**2)
            r = jnp.sqrt(jnp.where(ok, r2, 1.0))
            w = jnp.where(ok, switch(r, st.r_switch(), st.cutoff), 0.0)
        else:
            i, j = self._all_inter
            d = pos[j] - pos[i]
            r = jnp.linalg.norm(d, axis=1)
            w = jnp.ones_like(r)
        bij = a["b"][i] * a["b"][j]
        out["dispersion"] = jnp.sum(
            w
            * dispersion_pair(
                r, bij, a["c6"][i] * a["c6"][j], a["c8"][i] * a["c8"][j], a["c10"][i] * a["c10"][j]
            )
        )
        vol = jnp.abs(jnp.linalg.det(box)) if box is not None else None
        out["dispersion_lrc"] = lrc / vol if box is not None else jnp.zeros(())
        sl = jnp.sum(w[:, None] * slater_pair(r, bij, a["a"][i] * a["a"][j]), axis=0)
        for k, c in enumerate(SLATER_COMPONENTS):
            out[f"slater_{c}"] = sl[k]
        out["bonded"] = (
            bond_energy(pos, jnp.asarray(s.bonds), jnp.asarray(s.bond_r0), jnp.asarray(s.bond_k))
            + angle_energy(pos, jnp.asarray(s.angles), jnp.asarray(s.angle_theta0), jnp.asarray(s.angle_k))
            + torsion_energy(
                pos,
                jnp.asarray(s.torsions),
                jnp.asarray(s.torsion_n),
                jnp.asarray(s.torsion_phase),
                jnp.asarray(s.torsion_k),
            )
            + wall_energy(pos, jnp.asarray(s.walls), jnp.asarray(s.wall_r0), jnp.asarray(s.wall_k))
        )
        for name, fn in self.extra_terms.items():
            out[name] = fn(pos, box)
        out["_iterations"] = it
        out["_induced"] = mu
        return out

    def _total_and_terms(self, pos, box, nbrs, nvec, lrc):
        t = self._terms(pos, box, nbrs, nvec, lrc)
        total = sum(v for k, v in t.items() if not k.startswith("_"))
        return total, t

    # ------------------------------------------------------------------------------------------------
    def _periodic_inputs(self, positions, box):
        box = jnp.asarray(as_box(box))
        pos = jnp.asarray(positions)
        if self._nbrs is None or self._nbrs.reference.shape != pos.shape:
            self._nbrs = self.neighbor_list(pos, box)
        reach = self.settings.cutoff + self.settings.skin
        nbrs = self._nl_update(self._nbrs, pos, box, self._arr["mol"], reach=reach, skin=self.settings.skin)
        if bool(nbrs.overflow):
            nbrs = self.neighbor_list(pos, box)
        self._nbrs = nbrs
        return pos, box, nbrs, self.ewald_vectors(box), self.lrc_coefficient()

    def check_frames(self, positions) -> None:
        """Raise InputError when a frame's z and x atoms are collinear with its atom (frame undefined)."""
        pos = np.asarray(positions, dtype=float)
        s = self.system
        for k in np.nonzero(np.isin(s.axis, (0, 1)))[0]:
            z, x = s.frame[k, 0], s.frame[k, 1]
            u, v = pos[z] - pos[k], pos[x] - pos[k]
            cos = u @ v / np.linalg.norm(u) / np.linalg.norm(v)
            if abs(cos) > 0.999:
                raise InputError(
                    f"the frame of atom {k} ({s.atom_types[k]}) is undefined: its z and x atoms "
                    "are collinear with it",
                    field="frames",
                    fix="choose a non-collinear x atom",
                )

    def compute(self, positions, box=None, forces: bool = True, virial: bool = False) -> dict:
        """Energies per term (kJ/mol), and on request forces (N, 3; kJ/mol/nm) and the virial
        W = -dE/d(strain) (3x3, kJ/mol; pressure P = (kinetic + W) / V) with the stress dE/d(strain)/V.

        Periodic systems use (and keep) a neighbour list that is rebuilt when atoms move more than half
        the skin and reallocated when it overflows.
        """
        if not self._frames_checked:
            self.check_frames(positions)
            self._frames_checked = True
        if box is None:
            args = (jnp.asarray(positions), None, None, None, 0.0)
        else:
            args = self._periodic_inputs(positions, box)
        # one compiled function for energies and gradients (compiling a second, energy-only one costs more
        # than the backward pass it saves)
        (total, terms), (g_pos, g_box) = self._grad_jit(*args)
        if not forces and not virial:
            return self._finish(terms)
        out = self._finish(terms)
        out["forces"] = -np.asarray(g_pos)
        if virial:
            if box is None:
                raise InputError("an isolated system has no virial", field="box", fix="give a periodic box")
            pos, bx = np.asarray(args[0]), np.asarray(args[1])
            # E(r (1+e), h (1+e)): dE/de_ab = sum_i r_ia g_ib + sum_k h_ka G_kb
            de = pos.T @ np.asarray(g_pos) + bx.T @ np.asarray(g_box)
            vol = abs(np.linalg.det(bx))
            out["virial"] = -de
            out["stress"] = de / vol
        return out

    def _finish(self, terms) -> dict:
        out = {k: float(v) for k, v in terms.items() if not k.startswith("_")}
        self.last_iterations = int(terms["_iterations"])
        return {"terms": out, "total": float(sum(out.values()))}


def energy(
    positions, box, params: ForceFieldParams, molecule_names: list[str], settings: FFSettings | None = None
) -> dict[str, float]:
    """Energy of each term (kJ/mol) of a system: positions (N, 3) nm, box as for :func:`as_box` or None."""
    return ForceField(params, molecule_names, settings).compute(positions, box, forces=False)["terms"]
