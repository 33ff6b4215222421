"""The same model as an OpenMM System, an independent implementation to check the JAX side term by term.

- ``AmoebaMultipoleForce`` (group 1): multipoles and Thole-damped induced dipoles; every intramolecular
  pair is listed as Covalent12 (scale 0 for permanent-permanent and permanent-induced) and every molecule
  is one polarisation group (PolarizationCovalent11: direct field scale 0, mutual scale 1).
- ``CustomNonbondedForce`` for damped dispersion (group 2, long-range correction optional) and one per
  Slater component (groups 3-7), with every intramolecular pair excluded.
- ``HarmonicBondForce``, ``HarmonicAngleForce``, ``PeriodicTorsionForce`` (group 0).
"""

from __future__ import annotations

import math

import numpy as np

from phyneo_flows.errors import EngineNotFoundError
from phyneo_flows.ff.bonded import WALL_EXPRESSION
from phyneo_flows.ff.params import SLATER_COMPONENTS, SLATER_SIGNS
from phyneo_flows.ff.topology import FFSystem

GROUPS = {
    "bonded": 0,
    "multipoles": 1,
    "dispersion": 2,
    **{f"slater_{c}": 3 + k for k, c in enumerate(SLATER_COMPONENTS)},
}
MASSES = {"H": 1.008, "Li": 6.94, "C": 12.011, "O": 15.999, "F": 18.998, "P": 30.974}


def _openmm():
    try:
        import openmm
    except ImportError as exc:  # pragma: no cover - openmm is a dependency
        raise EngineNotFoundError("openmm is not installed", fix="pip install openmm") from exc
    return openmm


def _tt(n: int) -> str:
    terms = " + ".join(f"y^{k}/{math.factorial(k)}" for k in range(2, n + 1))
    return f"(1 - exp(-y)*(1 + y + {terms}))"


DISPERSION_EXPR = (
    "-(" + _tt(6) + "*c6/r^6 + " + _tt(8) + "*c8/r^8 + " + _tt(10) + "*c10/r^10);"
    "y = min(x - (2*x^2 + 3*x)/(x^2 + 3*x + 3), 100); x = b*r; b = b1*b2;"
    "c6 = c6a1*c6a2; c8 = c8a1*c8a2; c10 = c10a1*c10a2"
)


def build_openmm_system(
    system: FFSystem,
    box: np.ndarray | None,
    *,
    cutoff: float,
    switch_distance: float,
    alpha: float,
    pme_grid: tuple[int, int, int] | None,
    polarizable: bool = True,
    polarization: str = "mutual",
    induced_epsilon: float = 1e-8,
    long_range_correction: bool = True,
):
    """An ``openmm.System`` of ``system``; ``box`` a 3x3 matrix (nm) or None for no cutoff."""
    mm = _openmm()
    n = system.n_atoms
    omm = mm.System()
    for s in system.symbols:
        omm.addParticle(MASSES.get(s, 12.0))
    periodic = box is not None
    if periodic:
        omm.setDefaultPeriodicBoxVectors(*[mm.Vec3(*row) for row in np.asarray(box)])

    bonds = mm.HarmonicBondForce()
    for (i, j), r0, k in zip(system.bonds, system.bond_r0, system.bond_k, strict=True):
        bonds.addBond(int(i), int(j), float(r0), float(k))
    angles = mm.HarmonicAngleForce()
    for (i, j, k), t0, kk in zip(system.angles, system.angle_theta0, system.angle_k, strict=True):
        angles.addAngle(int(i), int(j), int(k), float(t0), float(kk))
    tors = mm.PeriodicTorsionForce()
    for (a, b, c, d), per, ph, k in zip(
        system.torsions, system.torsion_n, system.torsion_phase, system.torsion_k, strict=True
    ):
        tors.addTorsion(int(a), int(b), int(c), int(d), int(per), float(ph), float(k))
    walls = mm.CustomBondForce(WALL_EXPRESSION)
    walls.addPerBondParameter("r0")
    walls.addPerBondParameter("k")
    for (i, j), r0, k in zip(system.walls, system.wall_r0, system.wall_k, strict=True):
        walls.addBond(int(i), int(j), [float(r0), float(k)])
    for f in (bonds, angles, tors, walls):
        f.setForceGroup(GROUPS["bonded"])
        omm.addForce(f)

    amoeba = mm.AmoebaMultipoleForce()
    if periodic:
        amoeba.setNonbondedMethod(mm.AmoebaMultipoleForce.PME)
        amoeba.setCutoffDistance(cutoff)
        amoeba.setAEwald(alpha)
        amoeba.setPmeGridDimensions(list(pme_grid))
    else:
        amoeba.setNonbondedMethod(mm.AmoebaMultipoleForce.NoCutoff)
    amoeba.setPolarizationType(
        mm.AmoebaMultipoleForce.Mutual if polarization == "mutual" else mm.AmoebaMultipoleForce.Direct
    )
    amoeba.setMutualInducedTargetEpsilon(induced_epsilon)
    amoeba.setMutualInducedMaxIterations(1000)
    for k in range(n):
        pol = float(system.polarizability[k]) if polarizable else 0.0
        z, x, y = (int(v) for v in system.frame[k])
        amoeba.addMultipole(
            float(system.charge[k]),
            [float(v) for v in system.dipole_local[k]],
            [float(v) for v in system.quadrupole_local[k].ravel()],
            int(system.axis[k]),
            z,
            x,
            y,
            float(system.thole[k]),
            pol ** (1.0 / 6.0),
            pol,
        )
    members: dict[int, list[int]] = {}
    for k, m in enumerate(system.mol):
        members.setdefault(int(m), []).append(k)
    for k, m in enumerate(system.mol):
        others = [a for a in members[int(m)] if a != k]
        amoeba.setCovalentMap(k, mm.AmoebaMultipoleForce.Covalent12, others)
        amoeba.setCovalentMap(k, mm.AmoebaMultipoleForce.PolarizationCovalent11, others)
    amoeba.setForceGroup(GROUPS["multipoles"])
    omm.addForce(amoeba)

    def pair_force(expr: str, names: list[str], values: np.ndarray, group: int, lrc: bool):
        f = mm.CustomNonbondedForce(expr)
        for name in names:
            f.addPerParticleParameter(name)
        for row in values:
            f.addParticle([float(v) for v in row])
        for i, j in system.intra_pairs:
            f.addExclusion(int(i), int(j))
        if periodic:
            f.setNonbondedMethod(mm.CustomNonbondedForce.CutoffPeriodic)
            f.setCutoffDistance(cutoff)
            f.setUseSwitchingFunction(True)
            f.setSwitchingDistance(switch_distance)
            f.setUseLongRangeCorrection(lrc)
        else:
            f.setNonbondedMethod(mm.CustomNonbondedForce.NoCutoff)
        f.setForceGroup(group)
        omm.addForce(f)

    sq = np.sqrt
    pair_force(
        DISPERSION_EXPR,
        ["c6a", "c8a", "c10a", "b"],
        np.stack([sq(system.c6), sq(system.c8), sq(system.c10), sq(system.b)], 1),
        GROUPS["dispersion"],
        long_range_correction,
    )
    for k, c in enumerate(SLATER_COMPONENTS):
        expr = f"{SLATER_SIGNS[c]}*a1*a2*(x^2/3 + x + 1)*exp(-x); x = b1*b2*r"
        pair_force(
            expr, ["a", "b"], np.stack([system.a[:, k], sq(system.b)], 1), GROUPS[f"slater_{c}"], False
        )
    return omm


def openmm_xml(omm_system) -> str:
    """The System serialised as OpenMM XML."""
    return _openmm().XmlSerializer.serialize(omm_system)


def group_energies_forces(
    omm_system, positions: np.ndarray, platform: str = "Reference", threads: int | None = None
) -> tuple[dict[str, float], np.ndarray]:
    """Energy per force group (kJ/mol, keyed as GROUPS) and total forces (kJ/mol/nm), float64."""
    mm = _openmm()
    integ = mm.VerletIntegrator(0.001)
    plat = mm.Platform.getPlatformByName(platform)
    props = {}
    if platform == "CPU" and threads:
        props["Threads"] = str(threads)
    ctx = mm.Context(omm_system, integ, plat, props)
    ctx.setPositions(mm.unit.Quantity(np.asarray(positions), mm.unit.nanometer))
    out = {}
    for name, g in GROUPS.items():
        st = ctx.getState(getEnergy=True, groups={g})
        out[name] = st.getPotentialEnergy().value_in_unit(mm.unit.kilojoule_per_mole)
    forces = (
        ctx.getState(getForces=True)
        .getForces(asNumpy=True)
        .value_in_unit(mm.unit.kilojoule_per_mole / mm.unit.nanometer)
    )
    del ctx
    return out, np.asarray(forces)
