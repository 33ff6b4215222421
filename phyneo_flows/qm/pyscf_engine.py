"""The PySCF harness: DFT (or HF) energies and forces of a molecule or cluster, in process.

Density fitting is always on. ``gpu4pyscf`` is used when it imports and a CUDA device is visible.
An SCF that does not converge is retried with stronger settings (level shift and more cycles, another
initial guess, second-order Newton); when all attempts fail the result is a ``QMFailure`` carrying
PySCF's last energy change and the attempts made. Hartree and bohr are converted to kJ/mol and nm here.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from phyneo_flows.errors import InputError
from phyneo_flows.qm.harness import QMFailure, register_harness
from phyneo_flows.qm.models import OptionValue, QMInput, QMMolecule, QMResult
from phyneo_flows.units import BOHR_TO_NM, HARTREE_TO_KJ_MOL

DEFAULT_METHOD = "wb97x-d3bj"
DEFAULT_BASIS = "def2-svp"
_HF_NAMES = frozenset({"hf", "scf", "rhf", "uhf"})
_DISPERSION_SUFFIXES = ("-d3bj", "-d3zero", "-d3bjm", "-d3zerom", "-d3op", "-d4", "-d3")

# The ladder of SCF settings tried in turn; each entry updates the mean-field object's attributes.
RETRY_LADDER: tuple[dict[str, Any], ...] = (
    {},
    {"level_shift": 0.3, "max_cycle": 200, "diis_space": 12},
    {"init_guess": "huckel", "level_shift": 0.5, "max_cycle": 300, "damp": 0.3},
    {"newton": True, "max_cycle": 100},
)


def gpu_available() -> bool:
    """True when gpu4pyscf imports and cupy sees at least one CUDA device."""
    if importlib.util.find_spec("gpu4pyscf") is None or importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no driver, no device: the CPU path is used
        return False


def _host(array: Any) -> np.ndarray:
    """A NumPy array of ``array`` (a CuPy array from gpu4pyscf is copied to the host)."""
    return np.asarray(array.get() if hasattr(array, "get") and not isinstance(array, np.ndarray) else array)


def is_hf(method: str) -> bool:
    """True when ``method`` names Hartree-Fock rather than a density functional."""
    return method.lower() in _HF_NAMES


def build_mole(molecule: QMMolecule, basis: str, *, verbose: int = 0):
    """A PySCF ``Mole`` of ``molecule`` (Angstrom on input) in ``basis``: a PySCF library name, else a set of
    psi4's library such as ``jun-cc-pvdz`` (the SAPT0 basis, which PySCF lacks; ``qm.dispersion.basis_for_pyscf``).
    An unknown basis is an ``InputError``."""
    from pyscf import gto

    from phyneo_flows.qm.dispersion import basis_for_pyscf

    atoms = [[s, tuple(float(x) for x in xyz)] for s, xyz in zip(molecule.symbols,
                                                                  molecule.coordinates_angstrom, strict=True)]
    try:
        spec = basis_for_pyscf(basis, molecule.symbols)
    except InputError:
        spec = basis  # PySCF's own error below names the basis
    try:
        return gto.M(atom=atoms, basis=spec, charge=molecule.charge, spin=molecule.multiplicity - 1,
                     unit="Angstrom", verbose=verbose)
    except Exception as exc:  # BasisNotFoundError, KeyError, RuntimeError: all mean a bad basis here
        raise InputError(f"PySCF cannot build basis {basis!r} for {sorted(set(molecule.symbols))}: {exc}",
                         field="basis", fix="use a basis PySCF knows, e.g. def2-svp, aug-cc-pvdz") from None


def check_method(method: str) -> None:
    """Raise ``InputError`` if PySCF/libxc does not know the functional ``method``."""
    if is_hf(method):
        return
    from pyscf.dft import libxc

    name = method.lower()
    for suffix in _DISPERSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    try:
        libxc.parse_xc(name)
    except Exception as exc:
        raise InputError(f"unknown method {method!r}: {exc}", field="method",
                         fix="use HF or a libxc functional name such as wb97x-d3bj, b3lyp-d3bj, pbe0") from None


def make_mean_field(mol, method: str, *, use_gpu: bool | None = None, grid_level: int | None = None):
    """A density-fitted RHF/UHF or RKS/UKS object for ``mol`` (restricted when closed shell)."""
    from pyscf import dft, scf

    gpu = gpu_available() if use_gpu is None else use_gpu
    if gpu:
        from gpu4pyscf import dft as gdft
        from gpu4pyscf import scf as gscf

        scf, dft = gscf, gdft  # noqa: F811  (same API on the GPU)
    closed = mol.spin == 0
    if is_hf(method):
        mf = scf.RHF(mol) if closed else scf.UHF(mol)
    else:
        mf = dft.RKS(mol, xc=method) if closed else dft.UKS(mol, xc=method)
        if grid_level is not None:
            mf.grids.level = grid_level
    return mf.density_fit(auxbasis=auxiliary_basis(mol))


def auxiliary_basis(mol) -> str | dict[str, Any]:
    """PySCF's default fitting basis (the orbital basis' -jkfit) where it covers every element; else
    PySCF's even-tempered one for the elements it lacks (aug-cc-pvdz-jkfit has no Li, Na)."""
    from pyscf import df, gto

    default = df.make_auxbasis(mol)
    missing = []
    for element, basis in (default.items() if isinstance(default, dict) else []):
        try:
            gto.basis.load(basis, gto.mole._std_symbol(element)) if isinstance(basis, str) else None
        except Exception:  # the named fitting basis has no entry for this element
            missing.append(element)
    if not missing:
        return default
    generated = df.aug_etb(mol)
    return {el: (generated[el] if el in missing else b) for el, b in default.items()}


@dataclass
class SCFOutcome:
    """A converged (or not) mean-field object and what it took."""

    mf: Any
    converged: bool
    attempts: int
    log: list[str] = field(default_factory=list)


def run_scf(mol, method: str, *, conv_tol: float = 1e-9, use_gpu: bool | None = None,
            grid_level: int | None = None, ladder: tuple[dict[str, Any], ...] | None = None,
            chkfile: str | None = None) -> SCFOutcome:
    """Run the SCF, walking ``ladder`` (default ``RETRY_LADDER``) until one setting converges;
    ``chkfile``: where PySCF writes its checkpoint (orbitals of the last attempt)."""
    ladder = RETRY_LADDER if ladder is None else ladder
    log: list[str] = []
    mf = None
    dm0 = None
    for attempt, settings in enumerate(ladder, start=1):
        mf = make_mean_field(mol, method, use_gpu=use_gpu, grid_level=grid_level)
        mf.conv_tol = conv_tol
        if chkfile is not None:
            mf.chkfile = chkfile
        extra = dict(settings)
        newton = extra.pop("newton", False)
        for key, value in extra.items():
            setattr(mf, key, value)
        if newton:
            mf = mf.newton()
        try:
            energy = mf.kernel(dm0=dm0) if dm0 is not None and "init_guess" not in extra else mf.kernel()
        except Exception as exc:  # a linear-algebra failure inside PySCF is one more failed attempt
            log.append(f"attempt {attempt} {settings}: {type(exc).__name__}: {exc}")
            continue
        if mf.converged:
            log.append(f"attempt {attempt} {settings}: converged, E = {energy:.10f} Eh")
            return SCFOutcome(mf=mf, converged=True, attempts=attempt, log=log)
        log.append(f"attempt {attempt} {settings}: not converged after {mf.max_cycle} cycles, "
                   f"last E = {energy:.10f} Eh")
        dm0 = mf.make_rdm1()
    return SCFOutcome(mf=mf, converged=False, attempts=len(ladder), log=log)


#: the options a ``DFTInput`` may carry
DFT_OPTIONS = ("conv_tol", "grid_level", "use_gpu")


class DFTInput(QMInput):
    """Energy (and forces) of one molecule or cluster. ``method`` is HF or a functional, default
    wB97X-D3BJ/def2-SVP. Options: ``conv_tol`` (Eh), ``grid_level`` (0-9), ``use_gpu`` (bool)."""

    task: Literal["energy", "gradient"] = "gradient"
    method: str = DEFAULT_METHOD
    basis: str = DEFAULT_BASIS
    molecule: QMMolecule

    def molecules(self) -> list[QMMolecule]:
        return [self.molecule]


class DFTResult(QMResult):
    """Total energy in kJ/mol, forces in kJ/mol/nm (shape (n_atoms, 3), None for an energy task),
    dipole moment of the whole system in e nm (about the origin for charged systems)."""

    method: str
    basis: str
    energy_kj_mol: float
    forces_kj_mol_nm: list[list[float]] | None = None
    dipole_e_nm: list[float]
    scf_attempts: int
    device: str = "cpu"


class PySCFHarness:
    """PySCF in process: ``found()``, ``version()``, ``compute(DFTInput) -> DFTResult | QMFailure``."""

    name = "pyscf"

    def __init__(self, ladder: tuple[dict[str, Any], ...] | None = None,
                 scratch_root: str | Path | None = None, keep_scratch: bool = False):
        """``ladder``: the SCF settings tried in turn (default ``RETRY_LADDER``, read at run time).
        ``scratch_root``: a failed run leaves its PySCF checkpoint (``scf.chk``) in a folder here, named
        in the ``QMFailure``; a successful run leaves nothing unless ``keep_scratch`` (default folder:
        the system temp folder)."""
        self.ladder = ladder
        self.scratch_root = None if scratch_root is None else Path(scratch_root)
        self.keep_scratch = keep_scratch

    @classmethod
    def from_settings(cls, settings: Any) -> PySCFHarness:
        """A harness whose scratch folders go under ``settings.data_dir/scratch/pyscf``."""
        return cls(scratch_root=Path(settings.data_dir).expanduser() / "scratch" / "pyscf",
                   keep_scratch=bool(getattr(settings, "keep_scratch", False)))

    def found(self) -> bool:
        return importlib.util.find_spec("pyscf") is not None

    def version(self) -> str:
        import pyscf

        return str(pyscf.__version__)

    def validate(self, input: DFTInput) -> Any:
        """Check the options, method and basis before any SCF starts; returns the PySCF ``Mole``."""
        unknown = sorted(set(input.options) - set(DFT_OPTIONS))
        if unknown:
            raise InputError(f"unknown PySCF option(s) {', '.join(unknown)}", field="options",
                             fix=f"use only {', '.join(DFT_OPTIONS)}")
        if input.options.get("use_gpu") and not gpu_available():
            raise InputError("use_gpu is set but gpu4pyscf or a CUDA device is missing", field="use_gpu",
                             fix="pip install gpu4pyscf-cuda12x on a machine with a GPU, or drop use_gpu")
        check_method(input.method)
        return build_mole(input.molecule, input.basis)

    def compute(self, input: DFTInput) -> DFTResult | QMFailure:
        """Energy and (for task 'gradient') forces; an SCF that never converges is a ``QMFailure``."""
        mol = self.validate(input)
        options = dict(input.options)
        use_gpu = options.get("use_gpu")
        start = time.perf_counter()
        key = input.input_hash(self.name, self.version())
        if self.scratch_root is not None:
            self.scratch_root.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"pyscf-{key[:12]}-", dir=self.scratch_root))
        outcome = run_scf(mol, input.method, conv_tol=float(options.get("conv_tol", 1e-9)),
                          use_gpu=None if use_gpu is None else bool(use_gpu),
                          grid_level=None if "grid_level" not in options else int(options["grid_level"]),
                          ladder=self.ladder, chkfile=str(scratch / "scf.chk"))
        if not outcome.converged:
            return QMFailure(engine=self.name, input_hash=key, attempts=outcome.attempts,
                             error_type="SCFConvergenceError", scratch_dir=str(scratch),
                             message="SCF did not converge; " + " | ".join(outcome.log))
        mf = outcome.mf
        forces = None
        if input.task == "gradient":
            try:
                grad = _host(mf.nuc_grad_method().kernel())
            except Exception as exc:
                return QMFailure(engine=self.name, input_hash=key, attempts=outcome.attempts,
                                 error_type=type(exc).__name__, message=f"gradient failed: {exc}",
                                 scratch_dir=str(scratch))
            forces = (-grad * HARTREE_TO_KJ_MOL / BOHR_TO_NM).tolist()
        dipole_au = _host(mf.dip_moment(unit="au", verbose=0))
        if not self.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        return DFTResult(
            engine=self.name, version=self.version(), input_hash=key,
            wall_time_s=time.perf_counter() - start, method=input.method, basis=input.basis,
            energy_kj_mol=float(mf.e_tot) * HARTREE_TO_KJ_MOL, forces_kj_mol_nm=forces,
            dipole_e_nm=(dipole_au * BOHR_TO_NM).tolist(), scf_attempts=outcome.attempts,
            device="gpu" if "gpu4pyscf" in type(mf).__module__ else "cpu")


def dft_input(molecule: QMMolecule, settings: Any | None = None, *, task: str = "gradient",
              **options: OptionValue) -> DFTInput:
    """A ``DFTInput`` at the level of ``settings`` (``dft_functional``, ``dft_basis`` of a
    ``phyneo_flows.settings.Settings``; the module defaults when None)."""
    method = getattr(settings, "dft_functional", None) or DEFAULT_METHOD
    basis = getattr(settings, "dft_basis", None) or DEFAULT_BASIS
    return DFTInput(molecule=molecule, method=method, basis=basis, task=task, options=options)


def dft_energy_forces(molecule: QMMolecule, method: str = DEFAULT_METHOD, basis: str = DEFAULT_BASIS,
                      **options: Any) -> DFTResult | QMFailure:
    """Convenience: energy (kJ/mol) and forces (kJ/mol/nm) of ``molecule`` through the harness."""
    return PySCFHarness().compute(DFTInput(molecule=molecule, method=method, basis=basis, options=options))


register_harness("pyscf", PySCFHarness)
register_harness("pyscf_engine", PySCFHarness)
