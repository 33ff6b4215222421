"""The per-molecule network: the intramolecular energy of one species from DFT energies AND forces.

E(R) = E_ref + s * sum_i [NN(x_i) - NN(x_i^0)], x_i = normalised [intramolecular features of atom i, onehot
element], with the radial and angular symmetry functions of :mod:`phyneo_flows.fitting.features`. Forces are
-dE/dR by autodiff, and the loss is

    mean((E - E_dft)^2) / var(E_dft) + force_weight * mean((F - F_dft)^2) / mean(F_dft^2)

over the training configurations, with early stopping (per member of a K-ensemble, trained at once) on the
validation configurations' force-and-energy loss. E_ref is the mean training energy, so the network's term
in a force field is the deformation energy of the molecule relative to its average configuration (the
constant drops out of MD). Energies kJ/mol, positions nm, forces kJ/mol/nm.

The science core: no jobflow here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, model_validator  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.fitting.features import (  # noqa: E402
    DEFAULT_ELEMENTS,
    AngularBasis,
    RadialBasis,
    element_indices,
    intramolecular_features,
)
from phyneo_flows.fitting.residual import _ACT, _keep_best  # noqa: E402


@dataclass(frozen=True)
class MonomerConfig:
    """One DFT-labelled configuration of a molecule (nm, kJ/mol, kJ/mol/nm)."""

    name: str
    symbols: tuple[str, ...]
    positions_nm: np.ndarray
    energy_kj_mol: float
    forces_kj_mol_nm: np.ndarray
    temperature_k: float | None = None


def load_monomers(path: str | Path) -> list[MonomerConfig]:
    """The configurations of a JSONL fixture (``fixtures/fitting/make_dft.py``; failed lines skipped)."""
    p = Path(path)
    files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
    out = []
    for f in files:
        if not f.exists():
            raise InputError(f"no DFT file at {f}", field="dft", fix="run fixtures/fitting/make_dft.py")
        for line in f.read_text().splitlines():
            if not line.strip():
                continue
            o = json.loads(line)
            if "energy_kj_mol" not in o:
                continue
            out.append(MonomerConfig(o.get("name", "M"), tuple(o["symbols"]), np.asarray(o["coordinates_nm"]),
                                     float(o["energy_kj_mol"]), np.asarray(o["forces_kj_mol_nm"]),
                                     o.get("temperature_k")))
    return out


class IntraConfig(BaseModel):
    """Settings of the per-molecule network (nm, kJ/mol)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ensemble_size: int = Field(2, ge=1, le=64)
    hidden: tuple[int, ...] = (32, 32)
    activation: Literal["tanh", "silu", "softplus"] = "tanh"
    elements: tuple[str, ...] = DEFAULT_ELEMENTS
    cutoff_nm: float = Field(0.4, gt=0.0, le=2.0)
    r_min_nm: float = Field(0.09, gt=0.0)
    n_radial: int = Field(16, ge=1, le=64)
    angular_eta: float = Field(10.0, ge=0.0, description="1/nm^2")
    force_weight: float = Field(1.0, ge=0.0)
    lr: float = Field(1e-2, gt=0.0, lt=1.0, description="initial Adam step")
    lr_final: float = Field(1e-4, gt=0.0, lt=1.0, description="step at max_epochs (exponential decay)")
    max_epochs: int = Field(3000, ge=1)
    patience: int = Field(300, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self):
        if not self.hidden or len(set(self.hidden)) != 1 or self.hidden[0] < 1:
            raise InputError(f"hidden = {self.hidden}", field="hidden", fix="give equal positive widths, e.g. (32, 32)")
        if self.r_min_nm >= self.cutoff_nm:
            raise InputError(f"r_min_nm {self.r_min_nm} >= cutoff_nm {self.cutoff_nm}", field="r_min_nm",
                             fix="the radial grid starts below the cutoff")
        return self

    def radial(self) -> RadialBasis:
        return RadialBasis(self.cutoff_nm, self.n_radial, self.r_min_nm)

    def angular(self) -> AngularBasis:
        return AngularBasis(eta=self.angular_eta)

    @property
    def n_inputs(self) -> int:
        ne = len(self.elements)
        return ne * self.n_radial + ne * (ne + 1) // 2 * self.angular().size + ne


class IntraNetwork:
    """A trained K-ensemble for one species: energies, forces and their spread."""

    def __init__(self, config: IntraConfig, name: str, symbols: Sequence[str], model, mean, scale,
                 e_ref: float, e_scale: float, history: dict | None = None):
        self.config, self.name, self.symbols = config, name, tuple(symbols)
        self.model, self.mean, self.scale = model, mean, scale
        self.e_ref, self.e_scale = e_ref, e_scale
        self.history = history or {}
        self._z = jnp.asarray(element_indices(self.symbols, config.elements))
        self._members = jax.jit(self._member_energies)
        self._members_grad = jax.jit(jax.vmap(jax.jacrev(self._member_energies), in_axes=0))

    def _member_energies(self, pos):
        """(K,) energies relative to E_ref of one configuration (N, 3)."""
        return _energies(self.model, pos, self._z, self.mean, self.scale, self.config) * self.e_scale

    def predict(self, positions_nm) -> dict[str, np.ndarray]:
        """Energy (kJ/mol, absolute: E_ref added), forces (kJ/mol/nm) and their std over members for a stack
        of configurations (M, N, 3)."""
        pos = jnp.asarray(np.asarray(positions_nm, float).reshape(-1, len(self.symbols), 3))
        e = np.asarray(jax.vmap(self._members)(pos)) + self.e_ref  # (M, K)
        f = -np.asarray(self._members_grad(pos))  # (M, K, N, 3)
        return {"energy": e.mean(1), "energy_std": e.std(1), "forces": f.mean(1), "forces_std": f.std(1)}

    def energy_term(self, molecule_index: Sequence[int], molecule_names: Sequence[str]) -> Callable[..., jnp.ndarray]:
        """JAX ``energy(positions_nm, box=None)``: the ensemble-mean deformation energy (relative to E_ref) summed
        over the molecules named ``self.name``. Molecules must be whole (not split across the box)."""
        mol_of = np.asarray(molecule_index)
        groups = [np.nonzero(mol_of == m)[0] for m, n in enumerate(molecule_names) if n == self.name]
        for g in groups:
            if len(g) != len(self.symbols):
                raise InputError(f"a {self.name} molecule has {len(g)} atoms, the network {len(self.symbols)}",
                                 field="molecule_index", fix="list each molecule's atoms in the template's order")
        idx = jnp.asarray(np.array(groups, dtype=np.int32).reshape(-1, len(self.symbols)))

        def energy(positions_nm, box=None):
            pos = jnp.asarray(positions_nm)[idx]
            return jnp.sum(jax.vmap(lambda p: self._member_energies(p).mean())(pos))

        return energy


def _energies(model, pos, z, mean, scale, config: IntraConfig):
    """(K,) network energies (units of e_scale) of one configuration."""
    ne = len(config.elements)
    g = intramolecular_features(pos, z, config.radial(), config.angular(), ne)
    onehot = jax.nn.one_hot(z, ne)
    x = jnp.concatenate([(g - mean) / scale, onehot], -1)
    x0 = jnp.concatenate([jnp.broadcast_to(-mean / scale, g.shape), onehot], -1)

    def one(m):
        f = jax.vmap(m)
        return jnp.sum(f(x) - f(x0))

    return eqx.filter_vmap(one)(model)


def _init(config: IntraConfig):
    keys = jax.random.split(jax.random.PRNGKey(config.seed), config.ensemble_size)
    return eqx.filter_vmap(lambda k: eqx.nn.MLP(config.n_inputs, 1, config.hidden[0], len(config.hidden),
                                                activation=_ACT[config.activation], key=k))(keys)


def _arrays(configs: Sequence[MonomerConfig], symbols):
    for c in configs:
        if c.symbols != tuple(symbols):
            raise InputError(f"configurations of different molecules ({c.symbols} vs {tuple(symbols)})",
                             field="configs", fix="train one network per species, atoms in one order")
    return (np.stack([c.positions_nm for c in configs]), np.array([c.energy_kj_mol for c in configs]),
            np.stack([c.forces_kj_mol_nm for c in configs]))


def train_intramolecular(train: Sequence[MonomerConfig], val: Sequence[MonomerConfig],
                         config: IntraConfig | None = None, verbose: bool = False) -> IntraNetwork:
    """Fit the K-ensemble to DFT energies and forces of ``train`` (full batch, Adam with an exponentially
    decaying step), early stopping on ``val``."""
    config = config or IntraConfig()
    if not train or not val:
        raise InputError("train and val need at least one configuration each", field="configs")
    symbols = train[0].symbols
    z = jnp.asarray(element_indices(symbols, config.elements))
    p_tr, e_tr, f_tr = _arrays(train, symbols)
    p_va, e_va, f_va = _arrays(val, symbols)
    ne = len(config.elements)
    feats = np.asarray(jax.vmap(lambda p: intramolecular_features(p, z, config.radial(), config.angular(), ne))(
        jnp.asarray(p_tr))).reshape(-1, config.n_inputs - ne)
    mean = jnp.asarray(feats.mean(0))
    scale = jnp.asarray(feats.std(0) + 1e-3 * (feats.std(0).max() + 1e-12))
    e_ref = float(e_tr.mean())
    e_var = float(e_tr.var()) or 1.0
    f_ms = float(np.mean(f_tr**2)) or 1.0
    e_scale = float(np.sqrt(f_ms)) * 0.01  # one network unit ~ the force scale times 0.01 nm
    params, static = eqx.partition(_init(config), eqx.is_inexact_array)
    opt = optax.adam(optax.exponential_decay(config.lr, config.max_epochs, config.lr_final / config.lr))
    state = opt.init(params)

    def member_loss(params, pos, e_ref_arr, f_ref):
        model = eqx.combine(params, static)

        def per_conf(p):
            return _energies(model, p, z, mean, scale, config) * e_scale

        e = jax.vmap(per_conf)(pos)  # (M, K)
        f = -jax.vmap(jax.jacrev(per_conf))(pos)  # (M, K, N, 3)
        le = jnp.mean((e - (e_ref_arr - e_ref)[:, None]) ** 2, 0) / e_var
        lf = jnp.mean((f - f_ref[:, None]) ** 2, axis=(0, 2, 3)) / f_ms
        return le + config.force_weight * lf, (le, lf)

    p_tr_j, e_tr_j, f_tr_j = jnp.asarray(p_tr), jnp.asarray(e_tr), jnp.asarray(f_tr)
    p_va_j, e_va_j, f_va_j = jnp.asarray(p_va), jnp.asarray(e_va), jnp.asarray(f_va)

    @eqx.filter_jit
    def update(params, state):
        def total(p):
            losses, _ = member_loss(p, p_tr_j, e_tr_j, f_tr_j)
            return losses.sum()

        loss, grads = jax.value_and_grad(total)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    @eqx.filter_jit
    def validate(params):
        return member_loss(params, p_va_j, e_va_j, f_va_j)[0]

    k = config.ensemble_size
    best, best_val, bad = params, np.full(k, np.inf), np.zeros(k, int)
    curve = []
    t0 = time.perf_counter()
    epoch = 0
    while epoch < config.max_epochs and not np.all(bad >= config.patience):
        params, state, loss = update(params, state)
        v = np.asarray(validate(params))
        active = bad < config.patience
        upd = (v < best_val) & active
        best = _keep_best(best, params, jnp.asarray(upd))
        best_val = np.where(upd, v, best_val)
        bad = np.where(upd, 0, np.where(active, bad + 1, bad))
        curve.append(v.tolist())
        if verbose and epoch % 200 == 0:
            print(f"epoch {epoch}: train {float(loss):.4f} val {v.round(4)}")
        epoch += 1
    history = {"epochs": epoch, "best_val_loss": best_val.tolist(), "val_loss": curve,
               "seconds": time.perf_counter() - t0, "n_train": len(train), "n_val": len(val)}
    return IntraNetwork(config, train[0].name, symbols, eqx.combine(best, static), mean, scale, e_ref, e_scale,
                        history)
