"""A small Lennard-Jones molecular dynamics (numpy + numba) that writes the pressure tensor.

Reduced units throughout (sigma = epsilon = m = k_B = 1). Velocity Verlet with a Verlet neighbour list
(rebuilt when any atom has moved half the skin); melting and equilibration with velocity rescaling,
production in NVE (unperturbed Newtonian dynamics, as Green-Kubo requires). The potential is truncated
at ``rc`` and shifted in energy only, so forces inside the cutoff are those of the full potential.

The pressure tensor ``P = (sum_i m v_i v_i + sum_{i<j} r_ij f_ij) / V`` is evaluated every step and
stored as block means over ``block`` steps. Block means keep the Green-Kubo integral exact: for a
series of means over blocks of length w, ``w * (C(0)/2 + sum_{k>=1} C(k))`` equals ``int_0^inf C(t) dt``
of the underlying signal, because averaging leaves the zero-frequency spectral density unchanged.

numba is needed only here (``pip install numba``); the analysis itself is plain numpy.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

try:
    import numba

    _njit = numba.njit(cache=True, fastmath=False)
except ImportError:  # pragma: no cover - the generator is optional
    numba = None

    def _njit(fn):
        return fn


@dataclass
class LJRunConfig:
    """Settings of one independent LJ run (reduced units)."""

    n_cells: int = 5  # fcc cells per edge: 4 n^3 atoms
    density: float = 0.8442
    temperature: float = 0.722
    rc: float = 4.0
    skin: float = 0.4
    dt: float = 0.004
    melt_steps: int = 5000  # velocity rescaling at twice the target temperature
    equil_steps: int = 25000  # velocity rescaling at the target temperature, then free NVE
    prod_steps: int = 250000
    block: int = 25  # steps per stored pressure-tensor block mean
    pos_every: int = 125  # steps between stored positions
    pos_frames: int = 200  # positions stored for the first pos_frames frames only
    pos_atoms: int = 64  # positions stored for the first pos_atoms atoms only
    seed: int = 0


def fcc_lattice(n_cells: int, density: float) -> tuple[np.ndarray, float]:
    """fcc positions (4 n^3, 3) and the cubic box edge for the given reduced density."""
    n = 4 * n_cells**3
    box = (n / density) ** (1.0 / 3.0)
    a = box / n_cells
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    cells = np.array([[i, j, k] for i in range(n_cells) for j in range(n_cells) for k in range(n_cells)])
    pos = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 3) * a
    return pos, box


@_njit
def _build(x, box, rl2, pi, pj, shift):
    """Half pair list within sqrt(rl2); shift[m] is the image offset of pair m, valid until rebuild
    because positions are unwrapped and move less than half the skin in between."""
    n = x.shape[0]
    m = 0
    s = np.empty(3)
    for i in range(n - 1):
        for j in range(i + 1, n):
            r2 = 0.0
            for a in range(3):
                d = x[i, a] - x[j, a]
                s[a] = -box * np.round(d / box)
                d += s[a]
                r2 += d * d
            if r2 < rl2:
                if m >= pi.shape[0]:
                    return -1
                pi[m] = i
                pj[m] = j
                for a in range(3):
                    shift[m, a] = s[a]
                m += 1
    return m


@_njit
def _forces(x, pi, pj, shift, npair, rc2, eshift, f, vir):
    f[:] = 0.0
    vir[:] = 0.0
    epot = 0.0
    wxx = wyy = wzz = wxy = wxz = wyz = 0.0
    for k in range(npair):
        i = pi[k]
        j = pj[k]
        dx = x[i, 0] - x[j, 0] + shift[k, 0]
        dy = x[i, 1] - x[j, 1] + shift[k, 1]
        dz = x[i, 2] - x[j, 2] + shift[k, 2]
        r2 = dx * dx + dy * dy + dz * dz
        if r2 < rc2:
            ir2 = 1.0 / r2
            ir6 = ir2 * ir2 * ir2
            fm = 24.0 * (2.0 * ir6 * ir6 - ir6) * ir2
            epot += 4.0 * (ir6 * ir6 - ir6) - eshift
            fx = fm * dx
            fy = fm * dy
            fz = fm * dz
            f[i, 0] += fx
            f[i, 1] += fy
            f[i, 2] += fz
            f[j, 0] -= fx
            f[j, 1] -= fy
            f[j, 2] -= fz
            wxx += fx * dx
            wyy += fy * dy
            wzz += fz * dz
            wxy += fx * dy
            wxz += fx * dz
            wyz += fy * dz
    vir[0, 0] = wxx
    vir[1, 1] = wyy
    vir[2, 2] = wzz
    vir[0, 1] = vir[1, 0] = wxy
    vir[0, 2] = vir[2, 0] = wxz
    vir[1, 2] = vir[2, 1] = wyz
    return epot


@_njit
def _advance(x, v, f, xref, box, rc2, rl2, skin, eshift, dt, nsteps, rescale_t, pi, pj, shift, npair, out):
    """nsteps of velocity Verlet; out[0:9] += sum of (kinetic + virial) tensors, returns npair.

    rescale_t > 0 rescales velocities to that temperature after every step.
    """
    n = x.shape[0]
    vir = np.zeros((3, 3))
    half = 0.25 * skin * skin
    for _ in range(nsteps):
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * f[i, a]
                x[i, a] += dt * v[i, a]
        dmax = 0.0
        for i in range(n):
            r2 = 0.0
            for a in range(3):
                d = x[i, a] - xref[i, a]
                r2 += d * d
            if r2 > dmax:
                dmax = r2
        if dmax > half:
            npair = _build(x, box, rl2, pi, pj, shift)
            if npair < 0:
                return -1
            xref[:] = x
        epot = _forces(x, pi, pj, shift, npair, rc2, eshift, f, vir)
        kin2 = 0.0
        for i in range(n):
            for a in range(3):
                v[i, a] += 0.5 * dt * f[i, a]
                kin2 += v[i, a] * v[i, a]
        if rescale_t > 0.0:
            s = np.sqrt(rescale_t * (3.0 * n - 3.0) / kin2)
            v *= s
            kin2 *= s * s
        kxx = kyy = kzz = kxy = kxz = kyz = 0.0
        for i in range(n):
            kxx += v[i, 0] * v[i, 0]
            kyy += v[i, 1] * v[i, 1]
            kzz += v[i, 2] * v[i, 2]
            kxy += v[i, 0] * v[i, 1]
            kxz += v[i, 0] * v[i, 2]
            kyz += v[i, 1] * v[i, 2]
        out[0] += kxx + vir[0, 0]
        out[4] += kyy + vir[1, 1]
        out[8] += kzz + vir[2, 2]
        out[1] += kxy + vir[0, 1]
        out[3] += kxy + vir[1, 0]
        out[2] += kxz + vir[0, 2]
        out[6] += kxz + vir[2, 0]
        out[5] += kyz + vir[1, 2]
        out[7] += kyz + vir[2, 1]
        out[9] += epot
        out[10] += 0.5 * kin2
    return npair


def run_lj(cfg: LJRunConfig, *, log: bool = True) -> dict:
    """Run melt, equilibration and NVE production; return stored series (reduced units).

    Returns a dict with ``stress`` (n_blocks, 3, 3) block-mean pressure tensor, ``stress_dt`` (time
    per block), ``positions`` (frames, pos_atoms, 3) unwrapped with the centre of mass removed,
    ``positions_dt``, ``box``, ``n_atoms``, ``temperature_mean``, ``energy_drift_per_atom`` (last
    minus first block of the production run), the config, and the wall time.
    """
    if numba is None:
        raise ImportError("the LJ generator needs numba: pip install numba")
    pos0, box = fcc_lattice(cfg.n_cells, cfg.density)
    n = pos0.shape[0]
    volume = box**3
    if cfg.rc + cfg.skin > 0.5 * box:
        raise ValueError(f"rc + skin = {cfg.rc + cfg.skin} exceeds half the box {box / 2:.3f}")
    rc2 = cfg.rc**2
    rl2 = (cfg.rc + cfg.skin) ** 2
    eshift = 4.0 * (cfg.rc**-12 - cfg.rc**-6)
    max_pairs = int(2.0 * n * 4.0 / 3.0 * np.pi * (cfg.rc + cfg.skin) ** 3 * cfg.density / 2.0) + 1000
    pi = np.zeros(max_pairs, dtype=np.int64)
    pj = np.zeros(max_pairs, dtype=np.int64)
    shift = np.zeros((max_pairs, 3))

    rng = np.random.default_rng(cfg.seed)
    x = pos0.copy()
    v = rng.normal(size=(n, 3)) * np.sqrt(2.0 * cfg.temperature)
    v -= v.mean(axis=0)
    f = np.zeros((n, 3))
    xref = x.copy()
    npair = _build(x, box, rl2, pi, pj, shift)
    _forces(x, pi, pj, shift, npair, rc2, eshift, f, np.zeros((3, 3)))
    out = np.zeros(11)
    t0 = time.time()

    def go(steps: int, rescale: float) -> None:
        nonlocal npair
        npair = _advance(x, v, f, xref, box, rc2, rl2, cfg.skin, eshift, cfg.dt, steps, rescale,
                         pi, pj, shift, npair, out)
        if npair < 0:
            raise RuntimeError("pair list overflow")

    go(cfg.melt_steps, 2.0 * cfg.temperature)
    go(cfg.equil_steps // 2, cfg.temperature)
    go(cfg.equil_steps - cfg.equil_steps // 2, 0.0)
    t_equil = time.time() - t0

    n_blocks = cfg.prod_steps // cfg.block
    stress = np.zeros((n_blocks, 3, 3))
    energy = np.zeros(n_blocks)
    kinetic = np.zeros(n_blocks)
    positions = []
    for b in range(n_blocks):
        out[:] = 0.0
        go(cfg.block, 0.0)
        stress[b] = out[:9].reshape(3, 3) / volume / cfg.block
        energy[b] = (out[9] + out[10]) / cfg.block
        kinetic[b] = out[10] / cfg.block
        if ((b + 1) * cfg.block) % cfg.pos_every == 0 and len(positions) < cfg.pos_frames:
            positions.append(x[: cfg.pos_atoms] - x.mean(axis=0))
    elapsed = time.time() - t0
    temps = 2.0 * kinetic / (3.0 * n - 3.0)
    drift = (energy[-1] - energy[0]) / n
    if log:
        print(f"seed {cfg.seed}: N={n} rc={cfg.rc} equil {t_equil:.1f} s, total {elapsed:.1f} s, "
              f"{(elapsed - t_equil) / cfg.prod_steps * 1e3:.4f} ms/step, T={temps.mean():.4f}, "
              f"energy drift {drift:.2e}/atom", flush=True)
    return {
        "stress": stress,
        "stress_dt": cfg.block * cfg.dt,
        "positions": np.asarray(positions),
        "positions_dt": cfg.pos_every * cfg.dt,
        "box": box,
        "n_atoms": n,
        "temperature_mean": float(temps.mean()),
        "energy_drift_per_atom": float(drift),
        "config": asdict(cfg),
        "wall_s": elapsed,
    }
