"""The pairwise residual network: an ensemble of K atom-centred networks on (SAPT total - physics) of ion pairs.

The residual energy of a dimer (kJ/mol) is a sum over its atoms i of

    s * [ NN(x_i) - NN(x_i^0) ],   x_i = normalised [G_i, onehot(element_i)]

where G_i are the intermolecular radial features of :mod:`phyneo_flows.fitting.features` (one channel per
element of the partner atoms, or with ``channels="coordination"`` per atom class: element and number of bonds,
which tells the carbonyl O of a carbonate from its ether O; the one-hot then names the class) and x_i^0 the same
atom with G = 0, so the residual vanishes exactly (and smoothly) once the molecules are further apart than the
cutoff. ``s`` is the target scale (loss-weighted RMS residual of the training set). The K members differ in their
initial weights and in the order they see the data; they are trained at once (stacked parameters, one jit), each with
its own early stopping on the validation split. The ensemble mean is the prediction, the standard deviation
over members its uncertainty.

Training resumes from ``checkpoint_dir`` when it holds a checkpoint of the same configuration: every
``checkpoint_every`` epochs the parameters, optimiser state, epoch, random key and best-so-far state are written;
the data order of epoch e depends only on (seed, e), so a resumed run repeats an uninterrupted one bit for bit
on the same device.

The science core: no jobflow here.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator  # noqa: E402

from phyneo_flows.errors import InputError  # noqa: E402
from phyneo_flows.fitting.data import DimerRecord, scoring_mask  # noqa: E402
from phyneo_flows.fitting.features import (  # noqa: E402
    DEFAULT_ELEMENTS,
    RadialBasis,
    coordination_classes,
    element_indices,
    intermolecular_features,
    pad_dimers,
)

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_META = "checkpoint.json"
ENSEMBLE = "ensemble.npz"
ENSEMBLE_META = "ensemble.json"


class ResidualConfig(BaseModel):
    """Settings of the residual ensemble (nm, kJ/mol)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_types: tuple[str, ...] | None = Field(
        None, description="pair types the network applies to (e.g. 'Li+-EC'); None: every pair with an ion")
    ensemble_size: int = Field(4, ge=1, le=64, description="K, networks in the ensemble")
    hidden: tuple[int, ...] = Field((32, 32), description="hidden layer widths")
    activation: Literal["tanh", "silu", "softplus"] = "tanh"
    elements: tuple[str, ...] = DEFAULT_ELEMENTS
    channels: Literal["element", "coordination"] = Field(
        "element", description="feature channels and atom one-hot: by element, or by atom class (element and "
                               "number of bonds in its molecule, features.coordination_classes)")
    classes: tuple[str, ...] | None = Field(
        None, description="the atom classes of channels='coordination' (filled from the training data)")
    species_classes: dict[str, tuple[str, ...]] | None = Field(
        None, description="class of each atom of each species, in the order of its SAPT monomer (filled from the "
                          "training data; energy_term reads it)")
    cutoff_nm: float = Field(0.6, gt=0.0, le=2.0)
    r_min_nm: float = Field(0.1, gt=0.0)
    n_radial: int = Field(10, ge=1, le=64)
    lr: float = Field(3e-3, gt=0.0, lt=1.0)
    weight_decay: float = Field(1e-5, ge=0.0)
    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(2000, ge=1)
    patience: int = Field(200, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    unscored_weight: float = Field(0.1, ge=0.0, le=1.0,
                                   description="loss weight of points outside the scoring mask (very repulsive)")
    physics_fallback: bool = Field(
        True, description="a member whose best validation RMSE does not beat the physics model alone (a zero "
                          "residual) is set to zero: its output layer is zeroed, so it adds nothing")
    seed: int = 0

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v):
        if not v or any(h < 1 for h in v) or len(set(v)) != 1:
            raise InputError(f"hidden = {v}", field="hidden",
                             fix="give one or more equal positive layer widths, e.g. (32, 32)")
        return v

    @field_validator("pair_types")
    @classmethod
    def _pairs(cls, v):
        if v is not None and (not v or any("-" not in p for p in v)):
            raise InputError(f"pair_types = {v}", field="pair_types",
                             fix="name pairs as in the SAPT data, e.g. 'Li+-EC', or leave None for all ion pairs")
        return v

    @model_validator(mode="after")
    def _radii(self):
        if self.r_min_nm >= self.cutoff_nm:
            raise InputError(f"r_min_nm {self.r_min_nm} >= cutoff_nm {self.cutoff_nm}", field="r_min_nm",
                             fix="the radial grid starts below the cutoff")
        if len(set(self.elements)) != len(self.elements):
            raise InputError(f"elements {self.elements} repeat", field="elements", fix="list each element once")
        return self

    def basis(self) -> RadialBasis:
        return RadialBasis(cutoff=self.cutoff_nm, n_radial=self.n_radial, r_min=self.r_min_nm)

    @property
    def channel_names(self) -> tuple[str, ...]:
        """The feature channels: the elements, or the atom classes with channels='coordination'."""
        if self.channels == "element":
            return self.elements
        if not self.classes:
            raise InputError("channels='coordination' without classes", field="classes",
                             fix="let train_residual fill them from the data, or list them")
        return self.classes

    @property
    def n_features(self) -> int:
        return len(self.channel_names) * self.n_radial

    def applies(self, name_a: str, name_b: str, charge_a: float, charge_b: float) -> bool:
        """Whether a molecule pair is one the network covers."""
        if self.pair_types is None:
            return charge_a != 0 or charge_b != 0
        return f"{name_a}-{name_b}" in self.pair_types or f"{name_b}-{name_a}" in self.pair_types


def select(records: Sequence[DimerRecord], config: ResidualConfig) -> np.ndarray:
    """Mask of the records whose pair type the network covers."""
    return np.array([config.applies(r.species_a, r.species_b, r.charge_a, r.charge_b)
                     or (config.pair_types is not None and r.pair_type in config.pair_types) for r in records],
                    dtype=bool)


# ---------------------------------------------------------------------------------------------------------
# the networks

_ACT = {"tanh": jnp.tanh, "silu": jax.nn.silu, "softplus": jax.nn.softplus}


def _mlp(config: ResidualConfig, key, in_size: int) -> eqx.nn.MLP:
    widths = config.hidden
    return eqx.nn.MLP(in_size, 1, widths[0], len(widths), activation=_ACT[config.activation], key=key)


def init_members(config: ResidualConfig, in_size: int) -> eqx.nn.MLP:
    """K stacked networks (leading axis K on every array)."""
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(config.seed), 0), config.ensemble_size)
    return eqx.filter_vmap(lambda k: _mlp(config, k, in_size))(keys)


def _atom_energies(model, x, x0):
    """One member: per-atom energies NN(x) - NN(x0) for (N, F) inputs."""
    f = jax.vmap(model)
    return (f(x) - f(x0))[:, 0]


class Normaliser(eqx.Module):
    """Feature mean and scale (over real atoms of the training set) and the target scale (kJ/mol)."""

    mean: jnp.ndarray
    scale: jnp.ndarray
    target_scale: float = eqx.field(static=True)


def _inputs(g, z, norm: Normaliser, n_elements: int):
    onehot = jax.nn.one_hot(z, n_elements)
    x = jnp.concatenate([(g - norm.mean) / norm.scale, onehot], -1)
    x0 = jnp.concatenate([jnp.broadcast_to(-norm.mean / norm.scale, g.shape), onehot], -1)
    return x, x0


def member_energies(model, norm: Normaliser, g, z, n_elements: int):
    """Residual (kJ/mol) of each member for padded features ``g`` (..., N, F), ``z`` (..., N): shape (K, ...)."""
    x, x0 = _inputs(g, z, norm, n_elements)
    real = (z >= 0).astype(g.dtype)

    def one(m):
        e = jax.vmap(_atom_energies, in_axes=(None, 0, 0))(m, x.reshape(-1, *x.shape[-2:]),
                                                           x0.reshape(-1, *x0.shape[-2:]))
        e = e.reshape(x.shape[:-1]) * real
        return jnp.sum(e, -1) * norm.target_scale

    return eqx.filter_vmap(one)(model)


# ---------------------------------------------------------------------------------------------------------
# the ensemble


class ResidualEnsemble:
    """K trained networks and what they need to predict: config, normaliser, history."""

    def __init__(self, config: ResidualConfig, model: eqx.nn.MLP, norm: Normaliser, history: dict | None = None):
        self.config = config
        self.model = model
        self.norm = norm
        self.history = history or {}
        self._basis = config.basis()
        self._ne = len(config.channel_names)

    # -- dimers ------------------------------------------------------------------------------------------
    def residual_members(self, records: Sequence[DimerRecord]) -> np.ndarray:
        """Residual of each member for each record, (K, n) kJ/mol; 0 for pairs the network does not cover."""
        out = np.zeros((self.config.ensemble_size, len(records)))
        mask = select(records, self.config)
        if mask.any():
            sub = [r for r, m in zip(records, mask, strict=True) if m]
            pos, z, mol = pad_dimers(sub, self.config.channel_names,
                                     coordination=self.config.channels == "coordination")
            g = _features(jnp.asarray(pos), jnp.asarray(z), jnp.asarray(mol), self._basis, self._ne)
            out[:, mask] = np.asarray(_member_energies_jit(self.model, self.norm, g, jnp.asarray(z), self._ne))
        return out

    def predict(self, records: Sequence[DimerRecord], baseline_kj_mol) -> tuple[np.ndarray, np.ndarray]:
        """(baseline + mean residual, std of the residual over members), both kJ/mol per record."""
        base = _baseline(baseline_kj_mol, len(records), "baseline_kj_mol")
        res = self.residual_members(records)
        return base + res.mean(0), res.std(0)

    # -- systems -----------------------------------------------------------------------------------------
    def energy_term(self, symbols: Sequence[str], molecule_index: Sequence[int], molecule_names: Sequence[str],
                    molecule_charges: Sequence[float] | None = None, members: bool = False
                    ) -> Callable[..., jnp.ndarray]:
        """A JAX function ``energy(positions_nm, box=None) -> kJ/mol`` (the ensemble mean; with ``members``
        the (K,) energies) summing the network over every molecule pair of the system that it covers.

        ``molecule_index[i]`` is the molecule of atom i; ``molecule_names[m]`` and ``molecule_charges[m]``
        name and charge molecule m (charges only matter when ``pair_types`` is None). Forces: ``jax.grad``.
        Positions within a pair use the minimum image when a box (3x3, nm) is given.
        """
        mol_of = np.asarray(molecule_index, dtype=int)
        n_mol = int(mol_of.max()) + 1
        if len(molecule_names) != n_mol:
            raise InputError(f"{len(molecule_names)} molecule names for {n_mol} molecules", field="molecule_names")
        charges = np.zeros(n_mol) if molecule_charges is None else np.asarray(molecule_charges, float)
        atoms = [np.nonzero(mol_of == m)[0] for m in range(n_mol)]
        pairs = [(a, b) for a in range(n_mol) for b in range(a + 1, n_mol)
                 if self.config.applies(molecule_names[a], molecule_names[b], charges[a], charges[b])]
        z_all = self._channel_indices(list(symbols), mol_of, molecule_names, {m for p in pairs for m in p})
        if not pairs:
            def zero(positions_nm, box=None):
                e = jnp.zeros((self.config.ensemble_size,))
                return e if members else jnp.sum(positions_nm) * 0.0

            return zero
        n_max = max(len(atoms[a]) + len(atoms[b]) for a, b in pairs)
        idx = np.zeros((len(pairs), n_max), dtype=np.int32)
        z = -np.ones((len(pairs), n_max), dtype=np.int32)
        mol = -np.ones((len(pairs), n_max), dtype=np.int32)
        for k, (a, b) in enumerate(pairs):
            ab = np.concatenate([atoms[a], atoms[b]])
            idx[k, :len(ab)] = ab
            z[k, :len(ab)] = z_all[ab]
            mol[k, :len(ab)] = [0] * len(atoms[a]) + [1] * len(atoms[b])
        idx, z, mol = jnp.asarray(idx), jnp.asarray(z), jnp.asarray(mol)
        model, norm, basis, ne = self.model, self.norm, self._basis, self._ne

        def energy(positions_nm, box=None):
            pos = jnp.asarray(positions_nm)[idx]
            pad = jnp.where((z >= 0)[..., None], 0.0, 1e3 + jnp.arange(n_max, dtype=pos.dtype)[None, :, None])
            pos = jnp.where((z >= 0)[..., None], pos, pad)
            bx = None if box is None else jnp.asarray(box)
            g = jax.vmap(lambda p, zz, mm: intermolecular_features(p, zz, mm, basis, ne, bx))(pos, z, mol)
            e = member_energies(model, norm, g, z, ne).sum(-1)
            return e if members else e.mean()

        return energy

    def _channel_indices(self, symbols, mol_of, molecule_names, needed: set[int] | None = None) -> np.ndarray:
        """Channel of every atom; only the molecules in ``needed`` (all when None) must be species the network
        knows (a Li+-PF6- network never sees the solvent, whose atoms get channel 0 unread)."""
        if self.config.channels == "element":
            return element_indices(symbols, self.config.elements)
        table = self.config.species_classes or {}
        labels: list[str] = [self.config.channel_names[0]] * len(symbols)
        for m, name in enumerate(molecule_names):
            if needed is not None and m not in needed:
                continue
            atoms = np.nonzero(mol_of == m)[0]
            cls = table.get(name)
            if cls is None or len(cls) != len(atoms) or any(
                    c.rstrip("0123456789") != symbols[i] for c, i in zip(cls, atoms, strict=True)):
                raise InputError(f"molecule {m} ({name}, {[symbols[i] for i in atoms]}) is not a species the "
                                 f"network knows the atom classes of ({sorted(table)})", field="molecule_names",
                                 fix="order its atoms as in the SAPT monomer, or train with channels='element'")
            for c, i in zip(cls, atoms, strict=True):
                labels[i] = c
        return element_indices(labels, self.config.channel_names)

    def energy(self, positions_nm, symbols: Sequence[str], molecule_index: Sequence[int],
               molecule_names: Sequence[str], molecule_charges: Sequence[float] | None = None, box=None):
        """Ensemble-mean residual energy (kJ/mol, a JAX scalar) of a system; see :meth:`energy_term`."""
        return self.energy_term(symbols, molecule_index, molecule_names, molecule_charges)(positions_nm, box)

    # -- files ---------------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write ``ensemble.npz`` (weights, normaliser) and ``ensemble.json`` (config, history) to ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        leaves = jax.tree_util.tree_leaves(eqx.filter(self.model, eqx.is_inexact_array))
        arrays = {f"w{k:03d}": np.asarray(v) for k, v in enumerate(leaves)}
        arrays.update(mean=np.asarray(self.norm.mean), scale=np.asarray(self.norm.scale))
        np.savez(d / ENSEMBLE, **arrays)
        meta = {"config": self.config.model_dump(mode="json"), "target_scale": self.norm.target_scale,
                "history": self.history}
        (d / ENSEMBLE_META).write_text(json.dumps(meta, indent=1))
        return d


def load_ensemble(directory: str | Path) -> ResidualEnsemble:
    """The ensemble :meth:`ResidualEnsemble.save` wrote."""
    d = Path(directory)
    if not (d / ENSEMBLE_META).exists():
        raise InputError(f"no residual ensemble in {d}", field="directory", fix="give the folder save() wrote")
    meta = json.loads((d / ENSEMBLE_META).read_text())
    config = ResidualConfig(**meta["config"])
    arrays = np.load(d / ENSEMBLE)
    # shapes only: initialising K real networks just to overwrite them costs a minute of tracing on a busy CPU
    template = eqx.filter_eval_shape(init_members, config, config.n_features + len(config.channel_names))
    model = _fill(template, arrays)
    norm = Normaliser(jnp.asarray(arrays["mean"]), jnp.asarray(arrays["scale"]), float(meta["target_scale"]))
    return ResidualEnsemble(config, model, norm, meta.get("history"))


def _fill(template, arrays):
    """The model whose array leaves (``jax.ShapeDtypeStruct`` in ``template``) are ``arrays["w000"]``, ... in the
    order :meth:`ResidualEnsemble.save` wrote them."""
    def is_shape(x):
        return isinstance(x, jax.ShapeDtypeStruct)

    leaves, treedef = jax.tree_util.tree_flatten(template, is_leaf=is_shape)
    filled, k = [], 0
    for leaf in leaves:
        if is_shape(leaf):
            value = arrays[f"w{k:03d}"]
            if value.shape != leaf.shape:
                raise InputError(f"saved weight w{k:03d} has shape {value.shape}, the config wants {leaf.shape}",
                                 field="directory", fix="ensemble.npz and ensemble.json come from different saves")
            filled.append(jnp.asarray(value, dtype=leaf.dtype))
            k += 1
        else:
            filled.append(leaf)
    return jax.tree_util.tree_unflatten(treedef, filled)


@eqx.filter_jit
def _member_energies_jit(model, norm, g, z, n_elements):
    return member_energies(model, norm, g, z, n_elements)


@functools.lru_cache(maxsize=16)
def _features_fn(basis: RadialBasis, ne: int):
    return jax.jit(jax.vmap(lambda p, zz, mm: intermolecular_features(p, zz, mm, basis, ne)))


def _features(pos, z, mol, basis, ne):
    """Features of a padded batch of dimers (one compiled function per basis and element count)."""
    return _features_fn(basis, ne)(pos, z, mol)


def _baseline(baseline, n: int, name: str) -> np.ndarray:
    b = np.zeros(n) if baseline is None else np.asarray(baseline, dtype=float).reshape(-1)
    if b.shape != (n,):
        raise InputError(f"{name} has {b.size} values for {n} records", field=name,
                         fix="give one physics total (kJ/mol) per record, in the same order")
    if not np.all(np.isfinite(b)):
        raise InputError(f"{name} holds non-finite values", field=name, fix="check the physics model")
    return b


# ---------------------------------------------------------------------------------------------------------
# training


class _Data(eqx.Module):
    g: jnp.ndarray  # (D, N, F)
    z: jnp.ndarray  # (D, N)
    y: jnp.ndarray  # (D,) residual target / target_scale
    w: jnp.ndarray  # (D,) loss weight


def _prepare(records, baseline, config, n_max, where):
    sel = select(records, config)
    if not sel.any():
        raise InputError(f"no {where} dimers of the pair types {config.pair_types or 'with an ion'}",
                         field="pair_types", fix="check the pair types against the data")
    base = _baseline(baseline, len(records), f"baseline_{where}")[sel]
    recs = [r for r, m in zip(records, sel, strict=True) if m]
    pos, z, mol = pad_dimers(recs, config.channel_names, n_max, coordination=config.channels == "coordination")
    g = _features(jnp.asarray(pos), jnp.asarray(z), jnp.asarray(mol), config.basis(), len(config.channel_names))
    target = np.array([r.total for r in recs]) - base
    weight = np.where(scoring_mask(recs), 1.0, config.unscored_weight)
    return np.asarray(g), z, target, weight


def _make_optimizer(config):
    return optax.adamw(config.lr, weight_decay=config.weight_decay)


def _make_step(config, static, optimizer, n_elements, batch_size, n_train):
    n_batches = -(-n_train // batch_size)

    def loss_fn(params, norm, data: _Data, idx, wmask):
        model = eqx.combine(params, static)

        def one(m, ii, ww):
            x, x0 = _inputs(data.g[ii], data.z[ii], norm, n_elements)
            real = (data.z[ii] >= 0).astype(x.dtype)
            e = jax.vmap(_atom_energies, in_axes=(None, 0, 0))(m, x, x0)
            pred = jnp.sum(e * real, -1)
            w = data.w[ii] * ww
            return jnp.sum(w * (pred - data.y[ii]) ** 2) / jnp.maximum(jnp.sum(w), 1e-12)

        return jnp.sum(eqx.filter_vmap(one)(model, idx, wmask))

    @eqx.filter_jit
    def epoch(params, opt_state, norm, data, key):
        k = params_size(params)
        keys = jax.random.split(key, k)
        perm = jax.vmap(lambda kk: jax.random.permutation(kk, n_train))(keys)
        pad = n_batches * batch_size - n_train
        idx = jnp.concatenate([perm, jnp.zeros((k, pad), perm.dtype)], 1).reshape(k, n_batches, batch_size)
        wm = jnp.concatenate([jnp.ones((k, n_train)), jnp.zeros((k, pad))], 1).reshape(k, n_batches, batch_size)

        def body(carry, b):
            p, s = carry
            loss, grads = jax.value_and_grad(loss_fn)(p, norm, data, idx[:, b], wm[:, b])
            updates, s = optimizer.update(grads, s, p)
            return (optax.apply_updates(p, updates), s), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), jnp.arange(n_batches))
        return params, opt_state, losses.mean()

    return epoch


def params_size(params) -> int:
    return jax.tree_util.tree_leaves(params)[0].shape[0]


def _val_rmse(params, static, norm, g, z, y, w, n_elements):
    """Weighted RMSE (kJ/mol) of each member on validation data (targets in kJ/mol)."""
    e = member_energies(eqx.combine(params, static), norm, g, z, n_elements)
    return jnp.sqrt(jnp.sum(w * (e - y) ** 2, -1) / jnp.sum(w))


def train_residual(train: Sequence[DimerRecord], val: Sequence[DimerRecord], baseline_train, baseline_val,
                   config: ResidualConfig | None = None, checkpoint_dir: str | Path | None = None,
                   on_epoch: Callable[[int, dict], None] | None = None, verbose: bool = False) -> ResidualEnsemble:
    """Train the K-member ensemble on the residual ``SAPT total - baseline`` (kJ/mol) of the ion pairs in
    ``train``, stopping each member early on its validation RMSE (weighted as the scoring mask says).

    ``baseline_train``/``baseline_val``: the physics total per record (None: zero, i.e. the network alone).
    ``checkpoint_dir``: checkpoints go here every ``config.checkpoint_every`` epochs; a checkpoint of the
    same configuration and data found there is resumed. ``on_epoch(epoch, info)`` is called after each epoch.
    """
    config = config or ResidualConfig()
    if config.channels == "coordination" and (config.classes is None or config.species_classes is None):
        config = with_classes(config, [r for r in list(train) + list(val) if select([r], config)[0]])
    ne = len(config.channel_names)
    n_max = max(len(r.symbols_a) + len(r.symbols_b) for r in list(train) + list(val))
    g_tr, z_tr, y_tr, w_tr = _prepare(train, baseline_train, config, n_max, "train")
    g_va, z_va, y_va, w_va = _prepare(val, baseline_val, config, n_max, "val")
    real = z_tr >= 0
    mean = g_tr[real].mean(0)
    scale = g_tr[real].std(0) + 1e-3 * (g_tr[real].std(0).max() + 1e-12)
    target_scale = float(np.sqrt(np.sum(w_tr * y_tr**2) / max(np.sum(w_tr), 1e-12)) or 1.0)  # loss-weighted RMS
    norm = Normaliser(jnp.asarray(mean), jnp.asarray(scale), target_scale)
    data = _Data(jnp.asarray(g_tr), jnp.asarray(z_tr), jnp.asarray(y_tr / target_scale), jnp.asarray(w_tr))
    vdata = (jnp.asarray(g_va), jnp.asarray(z_va), jnp.asarray(y_va), jnp.asarray(w_va))

    model = init_members(config, config.n_features + ne)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    optimizer = _make_optimizer(config)
    opt_state = optimizer.init(params)
    k = config.ensemble_size
    state = {"epoch": 0, "best_val": np.full(k, np.inf), "best_epoch": np.zeros(k, int), "bad": np.zeros(k, int),
             "train_loss": [], "val_rmse": [], "seconds": 0.0}
    best = params
    base_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1)
    fingerprint = _fingerprint(config, y_tr, y_va, g_tr)
    ckpt = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckpt is not None and (ckpt / CHECKPOINT_META).exists():
        params, opt_state, best, state = _load_checkpoint(ckpt, fingerprint, params, opt_state)

    step = _make_step(config, static, optimizer, ne, min(config.batch_size, len(y_tr)), len(y_tr))
    val_fn = eqx.filter_jit(lambda p, n, g, z, y, w: _val_rmse(p, static, n, g, z, y, w, ne))
    t0 = time.perf_counter()
    while state["epoch"] < config.max_epochs and not np.all(state["bad"] >= config.patience):
        e = state["epoch"]
        params, opt_state, loss = step(params, opt_state, norm, data, jax.random.fold_in(base_key, e))
        rmse = np.asarray(val_fn(params, norm, *vdata))
        improved = rmse < state["best_val"]
        active = state["bad"] < config.patience
        upd = improved & active
        best = _keep_best(best, params, jnp.asarray(upd))
        state["best_val"] = np.where(upd, rmse, state["best_val"])
        state["best_epoch"] = np.where(upd, e, state["best_epoch"])
        state["bad"] = np.where(upd, 0, np.where(active, state["bad"] + 1, state["bad"]))
        state["train_loss"].append(float(loss) * target_scale**2)
        state["val_rmse"].append(rmse.tolist())
        state["epoch"] = e + 1
        if verbose and (e % 50 == 0):
            print(f"epoch {e}: train mse {float(loss) * target_scale**2:.3f}  val rmse {rmse.round(3)}")
        if ckpt is not None and state["epoch"] % config.checkpoint_every == 0:
            state["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            _save_checkpoint(ckpt, fingerprint, params, opt_state, best, state, base_key)
        if on_epoch is not None:
            on_epoch(e, {"val_rmse": rmse, "train_mse": float(loss) * target_scale**2})
    state["seconds"] += time.perf_counter() - t0
    if ckpt is not None:
        _save_checkpoint(ckpt, fingerprint, params, opt_state, best, state, base_key)
    physics_val = float(np.sqrt(np.sum(w_va * y_va**2) / max(np.sum(w_va), 1e-12)))  # a zero residual's RMSE
    fallback = (state["best_val"] >= physics_val) if config.physics_fallback else np.zeros(k, bool)
    if np.any(fallback):
        best = _zero_output(best, jnp.asarray(fallback))
    history = {"epochs": state["epoch"], "best_epoch": state["best_epoch"].tolist(),
               "best_val_rmse_kj_mol": state["best_val"].tolist(), "train_mse": state["train_loss"],
               "val_rmse": state["val_rmse"], "physics_only_val_rmse_kj_mol": physics_val,
               "physics_fallback": fallback.tolist(), "seconds": state["seconds"], "n_train": int(len(y_tr)),
               "n_val": int(len(y_va)), "device": str(jax.devices()[0].platform)}
    return ResidualEnsemble(config, eqx.combine(best, static), norm, history)


def with_classes(config: ResidualConfig, records: Sequence[DimerRecord]) -> ResidualConfig:
    """``config`` with ``classes`` and ``species_classes`` (what it lacks of them) read from the monomers."""
    species: dict[str, tuple[str, ...]] = {}
    for r in records:
        for name, sym, pos in ((r.species_a, r.symbols_a, r.positions_a_nm), (r.species_b, r.symbols_b,
                                                                             r.positions_b_nm)):
            species.setdefault(name, tuple(coordination_classes(sym, pos)))
    classes = tuple(sorted({c for cls in species.values() for c in cls}))
    update = {}
    if config.classes is None:
        update["classes"] = classes
    if config.species_classes is None:
        update["species_classes"] = species
    return ResidualConfig(**(config.model_dump() | update))


def _zero_output(params, members):
    """``params`` with the output layer of the chosen members (K,) zeroed: their residual NN(x) - NN(x0) is 0."""
    w = params.layers[-1].weight
    return eqx.tree_at(lambda m: m.layers[-1].weight, params,
                       jnp.where(members.reshape((-1,) + (1,) * (w.ndim - 1)), 0.0, w))


def _keep_best(best, params, improved):
    """Per member: the new parameters where ``improved`` (K,), else the best so far."""
    return jax.tree_util.tree_map(
        lambda b, p: jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b), best, params)


def _fingerprint(config, y_tr, y_va, g_tr) -> str:
    import hashlib

    # the fallback acts after training: a checkpoint serves either setting (and those written before it existed)
    h = hashlib.sha256(config.model_dump_json(exclude={"physics_fallback"}).encode())
    for a in (y_tr, y_va, g_tr):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _save_checkpoint(d: Path, fingerprint, params, opt_state, best, state, key) -> None:
    d.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, tree in (("p", params), ("o", opt_state), ("b", best)):
        for k, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
            arrays[f"{name}{k:04d}"] = np.asarray(leaf)
    arrays["key"] = np.asarray(jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key)
    for name in ("best_val", "best_epoch", "bad"):
        arrays[name] = np.asarray(state[name])
    tmp = d / (CHECKPOINT + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, d / CHECKPOINT)
    meta = {"fingerprint": fingerprint, "epoch": state["epoch"], "train_loss": state["train_loss"],
            "val_rmse": state["val_rmse"], "seconds": state["seconds"]}
    tmpm = d / (CHECKPOINT_META + ".tmp")
    tmpm.write_text(json.dumps(meta))
    os.replace(tmpm, d / CHECKPOINT_META)


def _load_checkpoint(d: Path, fingerprint, params, opt_state):
    meta = json.loads((d / CHECKPOINT_META).read_text())
    if meta["fingerprint"] != fingerprint:
        raise InputError(f"the checkpoint in {d} is of another configuration or data set", field="checkpoint_dir",
                         fix="use an empty folder, or the same config and data to resume")
    arrays = np.load(d / CHECKPOINT)

    def fill(tree, prefix):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        return jax.tree_util.tree_unflatten(
            treedef, [jnp.asarray(arrays[f"{prefix}{k:04d}"], dtype=leaf.dtype) for k, leaf in enumerate(leaves)])

    state = {"epoch": int(meta["epoch"]), "train_loss": list(meta["train_loss"]), "val_rmse": list(meta["val_rmse"]),
             "seconds": float(meta["seconds"]), "best_val": arrays["best_val"].copy(),
             "best_epoch": arrays["best_epoch"].copy(), "bad": arrays["bad"].copy()}
    return fill(params, "p"), fill(opt_state, "o"), fill(params, "b"), state


def rmse(pred, ref, mask=None) -> float:
    """Root-mean-square error (same units as the inputs) over ``mask`` (all when None)."""
    d = np.asarray(pred, float) - np.asarray(ref, float)
    if mask is not None:
        d = d[np.asarray(mask, bool)]
    return float(np.sqrt(np.mean(d**2))) if d.size else float("nan")
