"""Periodic-perturbation (cosine acceleration) viscosity with OpenMM, and rigid TIP4P/2005 water to
validate it.

The method (Gosling, McDonald & Singer, Mol. Phys. 26, 1475 (1973); Hess, J. Chem. Phys. 116, 209
(2002)): every atom feels the external acceleration a_x(z) = A cos(k z), k = 2 pi / L_z. In the steady
state the fluid flows with the profile v_x(z) = V cos(k z), and the Navier-Stokes equation gives
eta = A rho / (V k^2). eta(A) is extrapolated linearly to A = 0
(:func:`phyneo_flows.analysis.viscosity.viscosity_periodic_perturbation`). No pressure tensor is needed,
which OpenMM does not compute.

The integrator is an ``openmm.CustomIntegrator``: leapfrog with the cosine acceleration added in the
kick, SHAKE/SETTLE on positions (velocities from the constrained displacement), and the canonical velocity-rescaling
thermostat of Bussi, Donadio & Parrinello (J. Chem. Phys. 126, 014101 (2007)) acting on the *peculiar*
velocity u = v - V_p cos(kz) x only, so that the imposed flow is not damped (a Langevin friction on the
full velocity would be). V_p = sum m v_x cos(kz) / sum m cos^2(kz) is the least-squares amplitude of the
profile; u is orthogonal to the profile, and rescaling u leaves V_p unchanged exactly. The recorded
amplitude is Hess's estimator V = 2 sum m v_x cos(kz) / sum m (the same as
:func:`phyneo_flows.analysis.viscosity.velocity_profile_amplitude`) of the full-step velocity, averaged
over every step.

Degrees of freedom of the peculiar kinetic energy (used for the temperature and the thermostat):
3 N_massive - N_constraints - 3 (centre-of-mass motion, removed by a ``CMMotionRemover`` when the system
has one) - 1 (the profile mode itself, whose kinetic energy (sum m / 4) V_p^2 is kT/2 at equilibrium and is
excluded from u). Virtual sites (mass 0) carry no degrees of freedom; OpenMM's CustomIntegrator skips them.

Units: nm, ps, K, amu, kJ/mol, g/cm^3, mPa s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from phyneo_flows.analysis.schemas import PropertyResult
from phyneo_flows.analysis.statistics import block_average
from phyneo_flows.analysis.viscosity import viscosity_periodic_perturbation, viscosity_zero_wavenumber
from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.units import AVOGADRO, BOLTZMANN_KJ_MOL_K

# TIP4P/2005, Abascal & Vega, J. Chem. Phys. 123, 234505 (2005)
TIP4P2005_R_OH_NM = 0.09572
TIP4P2005_ANGLE_HOH_DEG = 104.52
TIP4P2005_D_OM_NM = 0.01546
TIP4P2005_Q_H_E = 0.5564
TIP4P2005_SIGMA_NM = 0.31589
TIP4P2005_EPSILON_K = 93.2
MASS_O_AMU = 15.9994
MASS_H_AMU = 1.008
WATER_MASS_AMU = MASS_O_AMU + 2 * MASS_H_AMU
# published references used by the validation
TIP4P2005_DENSITY_298K_G_CM3 = 0.9979  # Abascal & Vega 2005, 1 bar
TIP4P2005_VISCOSITY_298K_MPA_S = 0.855  # Gonzalez & Abascal, J. Chem. Phys. 132, 096101 (2010)

_AMU_NM3_TO_G_CM3 = 1e21 / AVOGADRO  # (g/mol / N_A) / (1e-21 cm^3)
_LOG = logging.getLogger(__name__)
_LOG_EVERY_S = 120.0


def _openmm():
    try:
        import openmm
    except ImportError as exc:  # pragma: no cover - openmm is a dependency
        raise EngineNotFoundError("OpenMM is not installed", field="backend", fix="pip install openmm") from exc
    return openmm


def _positive(value: float, field: str, unit: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        what = "a non-negative" if allow_zero else "a positive"
        raise InputError(f"must be {what} number of {unit}, got {value}", field=field)
    return v


def _box3(box_nm: float | Sequence[float] | np.ndarray) -> np.ndarray:
    b = np.asarray(box_nm, dtype=float)
    if b.ndim == 0:
        b = np.full(3, float(b))
    elif b.shape == (3, 3):
        if np.any(np.abs(b - np.diag(np.diag(b))) > 1e-12):
            raise InputError("only rectangular boxes are supported", field="box_nm")
        b = np.diag(b).copy()
    if b.shape != (3,) or not np.all(np.isfinite(b)) or np.any(b <= 0):
        raise InputError(f"expected three positive edge lengths in nm, got {box_nm}", field="box_nm")
    return b


def mass_density_g_cm3(total_mass_amu: float, box_nm: float | Sequence[float] | np.ndarray) -> float:
    """Mass density in g/cm^3 of ``total_mass_amu`` in a rectangular box (nm)."""
    return float(total_mass_amu) / float(np.prod(_box3(box_nm))) * _AMU_NM3_TO_G_CM3


# --------------------------------------------------------------------------------------------------------
# TIP4P/2005 water
# --------------------------------------------------------------------------------------------------------


class WaterBox(NamedTuple):
    """An OpenMM system of rigid TIP4P/2005 water, its positions (O, H, H, M per molecule) and box."""

    system: object
    positions_nm: np.ndarray
    box_nm: np.ndarray
    n_waters: int


def tip4p2005_molecule_nm() -> np.ndarray:
    """Positions (4, 3) in nm of O, H1, H2 and M of one TIP4P/2005 molecule, O at the origin.

    H-O-H in the xy plane, bisector along +y; M on the bisector 0.1546 A from O.
    """
    half = np.deg2rad(TIP4P2005_ANGLE_HOH_DEG) / 2.0
    r = TIP4P2005_R_OH_NM
    return np.array([
        [0.0, 0.0, 0.0],
        [r * np.sin(half), r * np.cos(half), 0.0],
        [-r * np.sin(half), r * np.cos(half), 0.0],
        [0.0, TIP4P2005_D_OM_NM, 0.0],
    ])


def _m_site_weights() -> tuple[float, float]:
    """Weights (w_O, w_H) with M = w_O O + w_H (H1 + H2) on the bisector at d_OM from O."""
    half = np.deg2rad(TIP4P2005_ANGLE_HOH_DEG) / 2.0
    w_h = TIP4P2005_D_OM_NM / (2.0 * TIP4P2005_R_OH_NM * np.cos(half))
    return 1.0 - 2.0 * w_h, w_h


def _random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly distributed rotation matrices (unit quaternions from 4-D Gaussians)."""
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], axis=-1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], axis=-1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=1)


def _lattice_counts(n: int, box: np.ndarray) -> np.ndarray:
    """Grid counts per axis, proportional to the edges, with at least n sites."""
    a = (np.prod(box) / n) ** (1.0 / 3.0)
    counts = np.maximum(1, np.round(box / a)).astype(int)
    while np.prod(counts) < n:
        counts[np.argmin(counts * a / box)] += 1
    return counts


def tip4p2005_system(
    n_waters: int,
    box_nm: float | Sequence[float] | np.ndarray | None = None,
    *,
    density_g_cm3: float = 0.997,
    cutoff_nm: float = 0.9,
    ewald_error_tolerance: float = 5e-4,
    remove_cm_motion: bool = True,
    seed: int = 0,
) -> WaterBox:
    """Rigid TIP4P/2005 water (Abascal & Vega, J. Chem. Phys. 123, 234505 (2005)), built without XML.

    O-H 0.9572 A, H-O-H 104.52 deg; charges +0.5564 e on H and -1.1128 e on the massless site M, on the
    bisector 0.1546 A from O (a ``ThreeParticleAverageSite``); Lennard-Jones on O only, sigma 3.1589 A,
    epsilon/k_B 93.2 K. The three distances O-H, O-H, H-H are constrained, so OpenMM uses SETTLE.
    PME electrostatics, Lennard-Jones truncated at ``cutoff_nm`` with the long-range dispersion correction.

    Waters sit on a rectangular grid with random orientations (``seed``); the box is cubic at
    ``density_g_cm3`` unless ``box_nm`` (an edge or three edges) is given. Minimise before dynamics.
    """
    openmm = _openmm()
    n = int(n_waters)
    if n < 1:
        raise InputError(f"need at least one water, got {n_waters}", field="n_waters")
    cutoff = _positive(cutoff_nm, "cutoff_nm", "nm")
    if box_nm is None:
        rho = _positive(density_g_cm3, "density_g_cm3", "g/cm^3")
        box = np.full(3, (n * WATER_MASS_AMU * _AMU_NM3_TO_G_CM3 / rho) ** (1.0 / 3.0))
    else:
        box = _box3(box_nm)
    if np.min(box) < 2.0 * cutoff:
        raise InputError(f"the shortest box edge {np.min(box):.3f} nm is less than twice the cutoff "
                         f"{cutoff} nm", field="box_nm", fix="use more waters or a shorter cutoff")

    counts = _lattice_counts(n, box)
    spacing = box / counts
    grid = np.stack(np.meshgrid(*[np.arange(c) for c in counts], indexing="ij"), axis=-1).reshape(-1, 3)
    centres = (grid[:n] + 0.5) * spacing
    rng = np.random.default_rng(seed)
    mol = tip4p2005_molecule_nm()
    com = (MASS_O_AMU * mol[0] + MASS_H_AMU * (mol[1] + mol[2])) / WATER_MASS_AMU
    rot = _random_rotations(n, rng)
    positions = (centres[:, None, :] + np.einsum("nij,aj->nai", rot, mol - com)).reshape(-1, 3)

    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0),
                                        openmm.Vec3(0, 0, box[2]))
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.PME)
    nb.setCutoffDistance(cutoff)
    nb.setUseDispersionCorrection(True)
    nb.setEwaldErrorTolerance(float(ewald_error_tolerance))
    q_h = TIP4P2005_Q_H_E
    eps = TIP4P2005_EPSILON_K * BOLTZMANN_KJ_MOL_K
    w_o, w_h = _m_site_weights()
    r_hh = 2.0 * TIP4P2005_R_OH_NM * np.sin(np.deg2rad(TIP4P2005_ANGLE_HOH_DEG) / 2.0)
    for _ in range(n):
        o = system.addParticle(MASS_O_AMU)
        h1 = system.addParticle(MASS_H_AMU)
        h2 = system.addParticle(MASS_H_AMU)
        m = system.addParticle(0.0)
        system.setVirtualSite(m, openmm.ThreeParticleAverageSite(o, h1, h2, w_o, w_h, w_h))
        nb.addParticle(0.0, TIP4P2005_SIGMA_NM, eps)
        nb.addParticle(q_h, 1.0, 0.0)
        nb.addParticle(q_h, 1.0, 0.0)
        nb.addParticle(-2.0 * q_h, 1.0, 0.0)
        system.addConstraint(o, h1, TIP4P2005_R_OH_NM)
        system.addConstraint(o, h2, TIP4P2005_R_OH_NM)
        system.addConstraint(h1, h2, r_hh)
        atoms = (o, h1, h2, m)
        for a in range(4):
            for b in range(a + 1, 4):
                nb.addException(atoms[a], atoms[b], 0.0, 1.0, 0.0)
    system.addForce(nb)
    if remove_cm_motion:
        system.addForce(openmm.CMMotionRemover(10))
    return WaterBox(system=system, positions_nm=positions, box_nm=box, n_waters=n)


def tip4p2005_slab(n_waters: int = 480, *, cross_section_nm: float = 1.9, cutoff_nm: float = 0.9,
                   seed: int = 11) -> WaterBox:
    """TIP4P/2005 in a box of ``cross_section_nm`` squared and the L_z that gives the published density at
    298 K: the geometry of the periodic-perturbation runs (480 waters: 1.9 x 1.9 x 3.99 nm, the thinnest
    cross-section a 0.9 nm cutoff allows). Not minimised."""
    area = _positive(cross_section_nm, "cross_section_nm", "nm") ** 2
    lz = int(n_waters) * mass_density_g_cm3(WATER_MASS_AMU, 1.0) / TIP4P2005_DENSITY_298K_G_CM3 / area
    return tip4p2005_system(n_waters, box_nm=[cross_section_nm, cross_section_nm, lz], cutoff_nm=cutoff_nm,
                            seed=seed)


def scale_molecules(positions_nm: np.ndarray, box_nm: Sequence[float] | np.ndarray,
                    new_box_nm: Sequence[float] | np.ndarray, masses: np.ndarray,
                    atoms_per_molecule: int) -> np.ndarray:
    """Move each molecule's centre of mass affinely from ``box_nm`` to ``new_box_nm`` (rigid shapes kept)."""
    pos = np.asarray(positions_nm, dtype=float)
    m = np.asarray(masses, dtype=float)
    k = int(atoms_per_molecule)
    if pos.shape[0] % k or m.shape[0] != pos.shape[0]:
        raise InputError(f"{pos.shape[0]} atoms do not make molecules of {k}", field="atoms_per_molecule")
    p = pos.reshape(-1, k, 3)
    w = m.reshape(-1, k, 1)
    com = (p * w).sum(axis=1) / w.sum(axis=1)
    scale = _box3(new_box_nm) / _box3(box_nm)
    return (p + (com * (scale - 1.0))[:, None, :]).reshape(-1, 3)


# --------------------------------------------------------------------------------------------------------
# cosine-acceleration integrator
# --------------------------------------------------------------------------------------------------------


def peculiar_degrees_of_freedom(system) -> int:
    """3 N_massive - N_constraints - 3 (if a CMMotionRemover is present) - 1 (the profile mode)."""
    openmm = _openmm()
    n_massive = sum(1 for i in range(system.getNumParticles())
                    if system.getParticleMass(i).value_in_unit(openmm.unit.dalton) > 0)
    n_cons = system.getNumConstraints()
    has_cmm = any(isinstance(system.getForce(i), openmm.CMMotionRemover) for i in range(system.getNumForces()))
    return 3 * n_massive - n_cons - (3 if has_cmm else 0) - 1


def cosine_acceleration_integrator(
    dt_ps: float,
    acceleration_nm_ps2: float,
    box_z_nm: float,
    *,
    temperature_k: float | None = None,
    tau_t_ps: float = 0.1,
    n_dof: int | None = None,
    thermostat_every: int = 10,
    seed: int = 0,
):
    """Leapfrog with a_x(z) = A cos(2 pi z / L_z) on every atom and CSVR on the peculiar velocity.

    Every step (OpenMM's ``VerletIntegrator`` scheme; velocities are the half-step ones):
    v += dt (f/m + A c x) with c = cos(k z(t)); x += dt v; SHAKE/SETTLE; v = (x - x(t)) / dt.
    Every ``thermostat_every`` steps (as GROMACS's nsttcouple), between the kick and the drift:
    V_p = sum m v_x c / sum m c^2, u = v - V_p c x, v = V_p c x + alpha u, with alpha^2 from Bussi et al.
    (2007), eq. (A7), using the peculiar kinetic energy K measured on the step before and the chi-square
    of n_dof - 1 Gaussians drawn by the Wilson-Hilferty transform (exact enough for n_dof > 100).
    Measurements are at the positions x(t): Hess's V = 2 sum m v_x c / sum m of the full-step velocity
    (v(t - dt/2) + v(t + dt/2)) / 2 every step (``v_sum``/``n_sum``), and K on the steps before a thermostat
    step (``ke_sum``/``n_ke``) as the mean of the kinetic energy of that velocity and the average of the
    two half-step kinetic energies, whose O(dt^2) errors cancel. Read and reset these global variables
    to sample.
    Without ``temperature_k`` there is no thermostat (NVE plus the external force).
    Set ``n_dof`` from :func:`peculiar_degrees_of_freedom`.

    (Velocity Verlet with RATTLE written as a CustomIntegrator does not conserve energy for rigid water
    with virtual sites in OpenMM 8.6 - the total energy of 64 TIP4P/2005 molecules rose by 25 kJ/mol per
    100 steps on the CPU platform, while this leapfrog scheme and ``VerletIntegrator`` conserve it.)
    """
    openmm = _openmm()
    dt = _positive(dt_ps, "dt_ps", "ps")
    acc = _positive(acceleration_nm_ps2, "acceleration_nm_ps2", "nm/ps^2", allow_zero=True)
    lz = _positive(box_z_nm, "box_z_nm", "nm")
    nst = int(thermostat_every)
    if nst < 1:
        raise InputError(f"must be at least 1, got {thermostat_every}", field="thermostat_every")
    thermostat = temperature_k is not None
    if thermostat:
        temp = _positive(temperature_k, "temperature_k", "K")
        tau = _positive(tau_t_ps, "tau_t_ps", "ps")
        nf = int(n_dof) if n_dof is not None else None
        if nf is None or nf < 2:
            raise InputError(f"the thermostat needs the degrees of freedom (>= 2), got {n_dof}", field="n_dof",
                             fix="pass n_dof=peculiar_degrees_of_freedom(system)")
    integ = openmm.CustomIntegrator(dt)
    integ.setRandomNumberSeed(int(seed))
    integ.addGlobalVariable("A", acc)
    integ.addGlobalVariable("kwave", 2.0 * np.pi / lz)
    integ.addGlobalVariable("nst", float(nst))
    for name in ("mvc", "mcc", "mtot", "vprof", "ke_last", "v_sum", "ke_sum", "n_sum", "n_ke", "tcount"):
        integ.addGlobalVariable(name, 0.0)
    for name in ("x0", "vh", "u", "x1", "c"):
        integ.addPerDofVariable(name, 0.0)
    # c = cos(k z(t)) x, evaluated once a step (a per-dof cos(_z(x)) is the costliest operation of the step
    # on OpenMM's CPU platform) and used by the kick, the thermostat and the measurement, all at x(t)
    vfull = "0.5*(vh + v)"

    integ.addUpdateContextState()
    integ.beginIfBlock("mtot = 0")
    integ.addComputeSum("mtot", "m*vector(1, 0, 0)")
    integ.endBlock()
    integ.addComputeGlobal("tcount", "tcount + 1")
    integ.addComputePerDof("x0", "x")
    integ.addComputePerDof("c", "cos(kwave*_z(x))*vector(1, 0, 0)")
    integ.addComputePerDof("vh", "v")
    integ.addComputePerDof("v", "v + dt*(f/m + A*c)")
    if thermostat:
        integ.addGlobalVariable("kt", BOLTZMANN_KJ_MOL_K * temp)
        integ.addGlobalVariable("nf", float(nf))
        integ.addGlobalVariable("cdecay", float(np.exp(-nst * dt / tau)))
        for name in ("r1", "r2", "chi", "ratio", "alpha"):
            integ.addGlobalVariable(name, 0.0)
        integ.beginIfBlock("tcount >= nst")
        integ.addComputeGlobal("tcount", "0")
        integ.endBlock()
        integ.beginIfBlock("tcount = 0")
        integ.beginIfBlock("ke_last > 0")
        integ.addComputeSum("mvc", "m*v*c")
        integ.addComputeSum("mcc", "m*c*c")
        integ.addComputeGlobal("vprof", "mvc/mcc")
        integ.addComputePerDof("u", "v - vprof*c")
        integ.addComputeGlobal("r1", "gaussian")
        integ.addComputeGlobal("r2", "gaussian")
        # chi-square with nf - 1 degrees of freedom (Wilson & Hilferty 1931)
        integ.addComputeGlobal("chi", "(nf-1)*(1 - 2/(9*(nf-1)) + r2*sqrt(2/(9*(nf-1))))^3")
        # ratio = K_target / (nf K), K_target = nf kT / 2
        integ.addComputeGlobal("ratio", "0.5*kt/ke_last")
        integ.addComputeGlobal("alpha", "sqrt(max(0, cdecay + (1-cdecay)*ratio*(r1*r1 + chi)"
                                        " + 2*r1*sqrt(cdecay*(1-cdecay)*ratio)))")
        integ.addComputePerDof("v", "vprof*c + alpha*u")
        integ.endBlock()
        integ.endBlock()
    integ.addComputePerDof("x", "x + dt*v")
    integ.addConstrainPositions()
    integ.addComputePerDof("v", "(x - x0)/dt")
    integ.addComputeSum("mvc", f"m*{vfull}*c")
    integ.addComputeGlobal("v_sum", "v_sum + 2*mvc/mtot")
    integ.addComputeGlobal("n_sum", "n_sum + 1")
    if thermostat:
        integ.beginIfBlock("tcount >= nst - 1")
        integ.addComputeSum("mcc", "m*c*c")
        integ.addComputeGlobal("vprof", "mvc/mcc")
        # K: mean of the kinetic energies of the averaged velocity and the average of the two half-step
        # kinetic energies; their O(dt^2) errors (-/+ (omega dt / 2)^2 for a mode of frequency omega,
        # about 1 % for water librations at 2 fs) cancel.
        integ.addComputePerDof("u", "vh - vprof*c")
        integ.addComputePerDof("x1", "v - vprof*c")
        integ.addComputeSum("ke_last", "0.5*m*(0.125*(u + x1)*(u + x1) + 0.25*(u*u + x1*x1))")
        integ.addComputeGlobal("ke_sum", "ke_sum + ke_last")
        integ.addComputeGlobal("n_ke", "n_ke + 1")
        integ.endBlock()
    return integ


def _platform(name: str, threads: int | None):
    openmm = _openmm()
    platform = openmm.Platform.getPlatformByName(name)
    props = {"Threads": str(int(threads))} if threads and name == "CPU" else {}
    return platform, props


def _check_state(system, positions_nm: np.ndarray, box_nm) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(positions_nm, dtype=float)
    if pos.shape != (system.getNumParticles(), 3):
        raise InputError(f"positions have shape {pos.shape}, the system has {system.getNumParticles()} "
                         "particles", field="positions_nm")
    return pos, _box3(box_nm)


def _system_mass_amu(system) -> float:
    openmm = _openmm()
    return float(sum(system.getParticleMass(i).value_in_unit(openmm.unit.dalton)
                     for i in range(system.getNumParticles())))


def minimize(system, positions_nm: np.ndarray, box_nm, *, tolerance_kj_mol_nm: float = 10.0,
             max_iterations: int = 0, platform: str = "CPU", threads: int | None = 2) -> np.ndarray:
    """Local energy minimisation (OpenMM L-BFGS) with constraints; returns positions in nm."""
    openmm = _openmm()
    pos, box = _check_state(system, positions_nm, box_nm)
    plat, props = _platform(platform, threads)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), plat, props)
    ctx.setPeriodicBoxVectors(openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2]))
    ctx.setPositions(pos)
    ctx.applyConstraints(1e-8)
    openmm.LocalEnergyMinimizer.minimize(ctx, tolerance_kj_mol_nm, int(max_iterations))
    out = ctx.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    del ctx
    return np.asarray(out)


class CosineRun(BaseModel):
    """One cosine-acceleration run: the profile amplitude sampled as block means over the run."""

    model_config = ConfigDict(extra="forbid")

    acceleration_nm_ps2: float
    temperature_k: float = Field(description="thermostat target")
    mean_temperature_k: float = Field(description="mean peculiar temperature over the production steps")
    box_nm: tuple[float, float, float]
    dt_ps: float
    steps: int = Field(description="production steps (after equilibration)")
    equilibration_steps: int
    sample_interval_ps: float = Field(description="each amplitude sample is the mean over this interval")
    amplitudes_nm_ps: list[float] = Field(description="V (nm/ps), Hess's estimator, one mean per interval")
    n_dof: int
    wall_s: float
    ns_per_day: float


def run_cosine_acceleration(
    system,
    positions_nm: np.ndarray,
    box_nm,
    acceleration_nm_ps2: float,
    temperature_k: float,
    *,
    dt_ps: float = 0.002,
    steps: int = 50_000,
    sample_every: int = 50,
    equilibration_steps: int = 2_500,
    tau_t_ps: float = 0.1,
    thermostat_every: int = 10,
    velocities_nm_ps: np.ndarray | None = None,
    max_wall_s: float | None = None,
    platform: str = "CPU",
    threads: int | None = 2,
    seed: int = 0,
) -> tuple[CosineRun, np.ndarray, np.ndarray]:
    """Run one amplitude; returns (the run, final positions nm, final velocities nm/ps).

    The velocities start Maxwell-Boltzmann at ``temperature_k`` unless given; the profile builds up within
    a few tau = rho / (eta k^2) (about 0.3 ps for water at L_z = 3 nm), so a few ps of equilibration with
    the force on suffice. The amplitude is averaged over every step and reported per ``sample_every``.
    Production stops after ``steps`` or, if given, once ``max_wall_s`` seconds (equilibration included)
    have passed (whole samples only, at least 8).
    """
    openmm = _openmm()
    temp = _positive(temperature_k, "temperature_k", "K")
    _positive(acceleration_nm_ps2, "acceleration_nm_ps2", "nm/ps^2", allow_zero=True)
    pos, box = _check_state(system, positions_nm, box_nm)
    if int(sample_every) < int(thermostat_every) or int(sample_every) % int(thermostat_every):
        raise InputError(f"sample_every ({sample_every}) must be a multiple of thermostat_every "
                         f"({thermostat_every})", field="sample_every")
    if int(steps) < 8 * int(sample_every) or int(sample_every) < 1:
        raise InputError(f"steps ({steps}) must give at least 8 samples of {sample_every} steps", field="steps")
    nf = peculiar_degrees_of_freedom(system)
    integ = cosine_acceleration_integrator(dt_ps, acceleration_nm_ps2, box[2], temperature_k=temp,
                                           tau_t_ps=tau_t_ps, n_dof=nf,
                                           thermostat_every=thermostat_every, seed=seed)
    plat, props = _platform(platform, threads)
    ctx = openmm.Context(system, integ, plat, props)
    ctx.setPeriodicBoxVectors(openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2]))
    ctx.setPositions(pos)
    ctx.applyConstraints(1e-8)
    if velocities_nm_ps is None:
        ctx.setVelocitiesToTemperature(temp, int(seed) + 1)
    else:
        ctx.setVelocities(np.asarray(velocities_nm_ps, dtype=float))
    ctx.applyVelocityConstraints(1e-8)
    t_budget = time.perf_counter()
    if equilibration_steps > 0:
        integ.step(int(equilibration_steps))

    def reset() -> None:
        for name in ("v_sum", "ke_sum", "n_sum", "n_ke"):
            integ.setGlobalVariableByName(name, 0.0)

    amps: list[float] = []
    ke_total = 0.0
    n_total = 0.0
    n_blocks = int(steps) // int(sample_every)
    t0 = t_log = time.perf_counter()
    for i in range(n_blocks):
        if max_wall_s is not None and i >= 8 and time.perf_counter() - t_budget > max_wall_s:
            break
        reset()
        integ.step(int(sample_every))
        n = integ.getGlobalVariableByName("n_sum")
        amps.append(integ.getGlobalVariableByName("v_sum") / n)
        ke_total += integ.getGlobalVariableByName("ke_sum")
        n_total += integ.getGlobalVariableByName("n_ke")
        if time.perf_counter() - t_log > _LOG_EVERY_S:
            t_log = time.perf_counter()
            _LOG.info("A=%g: %d samples, <V> = %.5f nm/ps, <T> = %.2f K, %.1f s", acceleration_nm_ps2, len(amps),
                      np.mean(amps), 2.0 * ke_total / max(n_total, 1) / (nf * BOLTZMANN_KJ_MOL_K), t_log - t0)
    wall = time.perf_counter() - t0
    state = ctx.getState(getPositions=True, getVelocities=True)
    nm = openmm.unit.nanometer
    final_pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(nm))
    final_vel = np.asarray(state.getVelocities(asNumpy=True).value_in_unit(nm / openmm.unit.picosecond))
    del ctx
    n_steps = len(amps) * int(sample_every)
    run = CosineRun(
        acceleration_nm_ps2=float(acceleration_nm_ps2), temperature_k=temp,
        mean_temperature_k=2.0 * ke_total / n_total / (nf * BOLTZMANN_KJ_MOL_K),
        box_nm=tuple(float(b) for b in box), dt_ps=float(dt_ps), steps=n_steps,
        equilibration_steps=int(equilibration_steps), sample_interval_ps=int(sample_every) * float(dt_ps),
        amplitudes_nm_ps=[float(a) for a in amps], n_dof=nf, wall_s=wall,
        ns_per_day=n_steps * float(dt_ps) * 1e-3 / wall * 86400.0 if wall > 0 else float("inf"))
    return run, final_pos, final_vel


def run_amplitude_series(
    system,
    positions_nm: np.ndarray,
    box_nm,
    accelerations_nm_ps2: Sequence[float] = (0.03, 0.06, 0.09),
    *,
    temperature_k: float = 298.0,
    steps: int = 500_000,
    max_wall_s: float | None = None,
    platform: str = "CPU",
    threads: int | None = 2,
) -> list[CosineRun]:
    """The viscosity protocol of the slow TIP4P/2005 test: one run per amplitude at 2 fs, CSVR tau 0.1 ps,
    each continuing from the last one's state (10,000 equilibration steps before the first, 2,500 before the
    others; seeds 10, 11, ...). ``steps`` and ``max_wall_s`` are per amplitude."""
    runs: list[CosineRun] = []
    pos, vel = positions_nm, None
    for i, acc in enumerate(accelerations_nm_ps2):
        run, pos, vel = run_cosine_acceleration(
            system, pos, box_nm, acc, temperature_k, dt_ps=0.002, steps=steps, sample_every=50,
            equilibration_steps=10_000 if i == 0 else 2_500, tau_t_ps=0.1, velocities_nm_ps=vel,
            max_wall_s=max_wall_s, platform=platform, threads=threads, seed=10 + i)
        runs.append(run)
    return runs


def amplitude_mean(run: CosineRun, *, discard_ps: float = 0.0) -> tuple[float, float]:
    """Mean profile amplitude V (nm/ps) of a run and its 1-sigma error by blocking (Flyvbjerg-Petersen)."""
    skip = int(round(_positive(discard_ps, "discard_ps", "ps", allow_zero=True) / run.sample_interval_ps))
    ba = block_average(np.asarray(run.amplitudes_nm_ps[skip:]))
    return ba.mean, ba.sem


def viscosity_from_runs(runs: Sequence[CosineRun], density_g_cm3: float, *, discard_ps: float = 0.0,
                        trajectory: str | None = None, extrapolation: str = "linear") -> PropertyResult:
    """Newtonian viscosity (mPa s) from runs at several A: eta(A) = A rho / (V k^2), fitted linearly to A = 0
    or, with ``extrapolation="newtonian"``, their weighted mean (see
    :func:`~phyneo_flows.analysis.viscosity.viscosity_periodic_perturbation`).

    V's error is the blocking error of each run; all runs must share L_z.
    """
    if not runs:
        raise InputError("no cosine-acceleration runs given", field="runs")
    lz = {round(r.box_nm[2], 9) for r in runs}
    if len(lz) != 1:
        raise InputError(f"the runs have different L_z: {sorted(lz)}", field="runs")
    means, errs = zip(*(amplitude_mean(r, discard_ps=discard_ps) for r in runs), strict=True)
    res = viscosity_periodic_perturbation(
        [r.acceleration_nm_ps2 for r in runs], list(means), density_g_cm3, runs[0].box_nm[2],
        amplitude_errors_nm_ps=list(errs), temperature_k=float(np.mean([r.temperature_k for r in runs])),
        n_samples=int(sum(len(r.amplitudes_nm_ps) for r in runs)), trajectory=trajectory,
        extrapolation=extrapolation)
    res.details.update({
        "amplitudes_nm_ps": [float(m) for m in means], "amplitude_errors_nm_ps": [float(e) for e in errs],
        "mean_temperatures_k": [r.mean_temperature_k for r in runs],
        "eta_each_errors_mpa_s": [float(e) for e in np.asarray(res.details["eta_each_mpa_s"])
                                  * np.asarray(errs) / np.asarray(means)],
    })
    return res


def viscosity_over_box_lengths(series: Sequence[Sequence[CosineRun]], density_g_cm3: float, *,
                               discard_ps: float = 0.0) -> tuple[PropertyResult, list[PropertyResult]]:
    """Macroscopic viscosity (mPa s) from amplitude series in boxes of different L_z (one series per box, same
    density): each box's error-weighted mean of eta(A) (amplitudes in the linear-response range), then
    eta(k) = eta_0 (1 - a k^2) extrapolated to k = 0. Returns eta_0 and the per-box results (whose
    ``slope``/``slope_error`` test the linear-response assumption)."""
    per_box = [viscosity_from_runs(runs, density_g_cm3, discard_ps=discard_ps, extrapolation="newtonian")
               for runs in series]
    eta0 = viscosity_zero_wavenumber([r.details["box_z_nm"] for r in per_box], [r.value for r in per_box],
                                     [r.uncertainty for r in per_box],
                                     temperature_k=float(np.mean([r.temperature_k for r in per_box])))
    return eta0, per_box


# --------------------------------------------------------------------------------------------------------
# NPT density
# --------------------------------------------------------------------------------------------------------


class DensityRun(BaseModel):
    """NPT density of a run: block mean and blocking error, and the volume series."""

    model_config = ConfigDict(extra="forbid")

    temperature_k: float
    pressure_bar: float
    density_g_cm3: float
    density_error_g_cm3: float
    mean_box_nm: tuple[float, float, float]
    densities_g_cm3: list[float]
    dt_ps: float
    steps: int
    equilibration_steps: int
    wall_s: float
    ns_per_day: float


def npt_density(
    system,
    positions_nm: np.ndarray,
    box_nm,
    temperature_k: float,
    pressure_bar: float = 1.0,
    *,
    dt_ps: float = 0.002,
    steps: int = 25_000,
    sample_every: int = 25,
    equilibration_steps: int = 5_000,
    friction_per_ps: float = 1.0,
    barostat_interval: int = 25,
    max_wall_s: float | None = None,
    platform: str = "CPU",
    threads: int | None = 2,
    seed: int = 0,
) -> tuple[DensityRun, np.ndarray, np.ndarray]:
    """Density (g/cm^3) at T, p from Langevin middle dynamics and OpenMM's isotropic Monte Carlo barostat.

    Returns (the run, final positions nm, final box edges nm). The error is the blocking error of the
    density series. Production stops after ``steps`` or once ``max_wall_s`` seconds (equilibration
    included) have passed.
    """
    openmm = _openmm()
    temp = _positive(temperature_k, "temperature_k", "K")
    press = float(pressure_bar)
    pos, box = _check_state(system, positions_nm, box_nm)
    sys_npt = openmm.XmlSerializer.clone(system)
    baro = openmm.MonteCarloBarostat(press, temp, int(barostat_interval))
    baro.setRandomNumberSeed(int(seed) + 7)
    sys_npt.addForce(baro)
    integ = openmm.LangevinMiddleIntegrator(temp, _positive(friction_per_ps, "friction_per_ps", "1/ps"),
                                            _positive(dt_ps, "dt_ps", "ps"))
    integ.setRandomNumberSeed(int(seed))
    plat, props = _platform(platform, threads)
    ctx = openmm.Context(sys_npt, integ, plat, props)
    ctx.setPeriodicBoxVectors(openmm.Vec3(box[0], 0, 0), openmm.Vec3(0, box[1], 0), openmm.Vec3(0, 0, box[2]))
    ctx.setPositions(pos)
    ctx.applyConstraints(1e-8)
    ctx.setVelocitiesToTemperature(temp, int(seed) + 1)
    t_budget = time.perf_counter()
    if equilibration_steps > 0:
        integ.step(int(equilibration_steps))
    mass = _system_mass_amu(system)
    nm = openmm.unit.nanometer
    rho, boxes = [], []
    n_blocks = int(steps) // int(sample_every)
    t0 = t_log = time.perf_counter()
    for i in range(n_blocks):
        if max_wall_s is not None and i >= 16 and time.perf_counter() - t_budget > max_wall_s:
            break
        integ.step(int(sample_every))
        vecs = ctx.getState().getPeriodicBoxVectors(asNumpy=True).value_in_unit(nm)
        b = np.diag(np.asarray(vecs))
        boxes.append(b)
        rho.append(mass_density_g_cm3(mass, b))
        if time.perf_counter() - t_log > _LOG_EVERY_S:
            t_log = time.perf_counter()
            _LOG.info("NPT: %d samples, <rho> = %.4f g/cm^3, %.1f s", len(rho), np.mean(rho), t_log - t0)
    wall = time.perf_counter() - t0
    state = ctx.getState(getPositions=True)
    final_pos = np.asarray(state.getPositions(asNumpy=True).value_in_unit(nm))
    final_box = np.diag(np.asarray(state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(nm)))
    del ctx
    ba = block_average(np.asarray(rho))
    # the box of the mean density (isotropic barostat: shape kept)
    mean_box = final_box * (mass_density_g_cm3(mass, final_box) / ba.mean) ** (1.0 / 3.0)
    n_steps = len(rho) * int(sample_every)
    run = DensityRun(
        temperature_k=temp, pressure_bar=press, density_g_cm3=ba.mean, density_error_g_cm3=ba.sem,
        mean_box_nm=tuple(float(x) for x in mean_box), densities_g_cm3=[float(r) for r in rho],
        dt_ps=float(dt_ps), steps=n_steps, equilibration_steps=int(equilibration_steps), wall_s=wall,
        ns_per_day=n_steps * float(dt_ps) * 1e-3 / wall * 86400.0 if wall > 0 else float("inf"))
    return run, final_pos, final_box
