"""Short-range pair terms: Tang-Toennies damped dispersion and the Slater-ISA components.

With x = B_ij r, B_ij = sqrt(B_i B_j), C_n,ij = sqrt(C_n,i C_n,j):

- dispersion E = -sum_{n=6,8,10} f_n(y) C_n,ij / r^n, f_n(y) = 1 - exp(-y) sum_{k=0..n} y^k/k!,
  y = x - (2x^2 + 3x)/(x^2 + 3x + 3) (capped at 100, where f_n = 1 to 1e-30);
- Slater component k: E = sign_k A_i^k A_j^k P(x) exp(-x), P(x) = x^2/3 + x + 1, sign +1 for exchange
  and -1 for electrostatics, induction, dispersion and delta-HF.

Under periodic boundaries every pair term is multiplied by OpenMM's switch
S(t) = 1 - 10t^3 + 15t^4 - 6t^5, t = (r - r_switch)/(r_cut - r_switch), and is zero beyond r_cut.
All energies kJ/mol, distances nm.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from scipy.integrate import quad

from phyneo_flows.ff.params import SLATER_COMPONENTS, SLATER_SIGNS


def switch(r, r_switch: float, r_cut: float):
    """OpenMM's switching function (1 below r_switch, 0 from r_cut)."""
    t = jnp.clip((r - r_switch) / (r_cut - r_switch), 0.0, 1.0)
    return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)


def tt_damping(n: int, y):
    """Tang-Toennies f_n(y) = 1 - exp(-y) sum_{k=0..n} y^k / k!."""
    term = jnp.ones_like(y)
    total = jnp.ones_like(y)
    for k in range(1, n + 1):
        term = term * y / k
        total = total + term
    return 1.0 - jnp.exp(-y) * total


Y_MAX = 100.0  # y is capped here (f_n = 1 to 1e-30 there) so that single-precision y^10 stays finite


def slater_isa_argument(x):
    """y = x - (2x^2 + 3x)/(x^2 + 3x + 3), capped at Y_MAX."""
    return jnp.minimum(x - (2.0 * x * x + 3.0 * x) / (x * x + 3.0 * x + 3.0), Y_MAX)


def dispersion_pair(r, b_ij, c6, c8, c10):
    """Damped dispersion energy of pairs (combined parameters)."""
    y = slater_isa_argument(b_ij * r)
    r2 = r * r
    r6 = r2 * r2 * r2
    return -(
        tt_damping(6, y) * c6 / r6
        + tt_damping(8, y) * c8 / (r6 * r2)
        + tt_damping(10, y) * c10 / (r6 * r2 * r2)
    )


def slater_pair(r, b_ij, a_ij):
    """Slater-ISA energies of pairs for each component: a_ij (P, 5) products A_i A_j -> (P, 5)."""
    x = b_ij * r
    poly = x * x / 3.0 + x + 1.0
    signs = jnp.array([SLATER_SIGNS[c] for c in SLATER_COMPONENTS])
    return signs[None, :] * a_ij * (poly * jnp.exp(-x))[:, None]


def lrc_coefficient(c6, c8, c10, b, r_switch: float, r_cut: float) -> float:
    """Dispersion long-range correction coefficient K (kJ/mol nm^3): E_lrc = K / V.

    Same bookkeeping as OpenMM's CustomNonbondedForce: atoms are grouped into classes of equal
    parameters; K = 2 pi N^2 sum_{classes a<=b} n_ab I_ab / (N(N+1)/2), n_aa = n_a(n_a+1)/2,
    n_ab = n_a n_b, I = int_rc^inf E r^2 dr + int_rs^rc (1 - S) E r^2 dr. The integrals are evaluated
    here with adaptive quadrature in float64 (OpenMM uses a midpoint rule in single precision).
    """
    params = np.stack([np.sqrt(c6), np.sqrt(c8), np.sqrt(c10), np.sqrt(b)], axis=1)
    classes, inverse = np.unique(params, axis=0, return_inverse=True)
    counts = np.bincount(inverse.ravel(), minlength=len(classes)).astype(float)
    n = float(len(c6))

    def energy(r, p1, p2):
        bij = p1[3] * p2[3]
        x = bij * r
        y = min(x - (2 * x * x + 3 * x) / (x * x + 3 * x + 3), Y_MAX)
        e = 0.0
        for order, cn in ((6, p1[0] * p2[0]), (8, p1[1] * p2[1]), (10, p1[2] * p2[2])):
            s = sum(y**k / math.factorial(k) for k in range(order + 1))
            e -= (1.0 - math.exp(-y) * s) * cn / r**order
        return e

    def sw(r):
        t = (r - r_switch) / (r_cut - r_switch)
        return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t * t)

    total = 0.0
    for a in range(len(classes)):
        for c in range(a, len(classes)):
            count = counts[a] * (counts[a] + 1) / 2 if a == c else counts[a] * counts[c]
            p1, p2 = classes[a], classes[c]
            tail = quad(
                lambda r, p1=p1, p2=p2: energy(r, p1, p2) * r * r,
                r_cut,
                np.inf,
                epsabs=0,
                epsrel=1e-12,
                limit=200,
            )[0]
            sw_part = 0.0
            if r_switch < r_cut:
                sw_part = quad(
                    lambda r, p1=p1, p2=p2: (1 - sw(r)) * energy(r, p1, p2) * r * r,
                    r_switch,
                    r_cut,
                    epsabs=0,
                    epsrel=1e-12,
                    limit=200,
                )[0]
            total += count * (tail + sw_part)
    return 2.0 * np.pi * n * n * total / (n * (n + 1) / 2)
