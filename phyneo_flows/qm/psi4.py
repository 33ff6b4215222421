"""The psi4 harness: SAPT0 and SAPT(DFT) of dimers, run as a program in a scratch directory.

psi4 (Debian 1.3.2) is never imported into this process: it needs numpy < 2. Each calculation writes a
psithon ``input.dat``, runs ``psi4 -n THREADS input.dat output.dat`` and reads back the psi4 variables
that the input prints (hartree, full precision) into kJ/mol. SCF non-convergence is retried with stronger
settings (more iterations, damping, SOSCF, another guess) and then returned as a ``QMFailure`` carrying
psi4's own message; scratch directories are removed after a success and kept after a failure.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from phyneo_flows.errors import EngineNotFoundError, InputError
from phyneo_flows.qm.harness import QMFailure, register_harness
from phyneo_flows.qm.models import Dimer, OptionValue, QMInput, QMMolecule, QMResult
from phyneo_flows.units import HARTREE_TO_KJ_MOL

#: SAPT methods this harness runs, by psi4's name
SAPT_METHODS: tuple[str, ...] = ("sapt0", "sapt(dft)")
#: where Debian's psi4 keeps its basis-set library
DEFAULT_BASIS_DIR = Path("/usr/share/psi4/basis")
COMPONENTS: tuple[str, ...] = ("electrostatics", "exchange", "induction", "delta_hf", "dispersion", "total")

# psi4 variable names (hartree) of each component
_PSIVARS_COMMON = {"electrostatics": "SAPT ELST ENERGY", "exchange": "SAPT EXCH ENERGY",
                   "induction": "SAPT IND ENERGY", "dispersion": "SAPT DISP ENERGY",
                   "total": "SAPT TOTAL ENERGY"}
_PSIVAR_DELTA_HF = {"sapt0": "SAPT HF(2) ENERGY", "sapt(dft)": "SAPT(DFT) DELTA HF"}

# stronger SCF settings tried in turn after a non-convergence; options the user set explicitly win
SCF_RETRIES: tuple[dict[str, OptionValue], ...] = (
    {"maxiter": 300, "damping_percentage": 20.0},
    {"maxiter": 500, "damping_percentage": 40.0, "soscf": True, "guess": "gwh"},
)

_PSIVAR_LINE = re.compile(r"^PHYNEO_PSIVAR (.+?) = (\S+)\s*$", re.MULTILINE)
_GRAC_LINE = re.compile(r"^PHYNEO_GRAC ([AB]) ip=(\S+) homo=(\S+)\s*$", re.MULTILINE)
_VERSION_LINE = re.compile(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_ERROR_LINE = re.compile(r"^(?:\S+\.)?(\w*(?:Error|Exception)): (.+)$", re.MULTILINE)


class SaptInput(QMInput):
    """A SAPT calculation of one dimer.

    ``method`` is ``sapt0`` (default) or ``sapt(dft)``; ``basis`` any basis in psi4's library;
    ``options`` any psi4 option (``scf_type df`` is set unless given). ``grac_shift_a``/``_b`` (kJ/mol)
    are the SAPT(DFT) gradient-regulated asymptotic-correction shifts; left out, they are computed as
    IP + e_HOMO by delta-SCF with the same functional and basis.
    """

    task: str = "sapt"
    method: str = "sapt0"
    basis: str = "jun-cc-pvdz"
    dimer: Dimer
    grac_shift_a: float | None = Field(None, description="kJ/mol")
    grac_shift_b: float | None = Field(None, description="kJ/mol")

    @model_validator(mode="after")
    def _known_method(self) -> SaptInput:
        method = self.method.lower()
        if method not in SAPT_METHODS:
            raise InputError(f"unknown SAPT method {self.method!r}", field="method",
                             fix=f"use one of: {', '.join(SAPT_METHODS)}")
        if method == "sapt(dft)":
            for label, mol in (("monomer_a", self.dimer.monomer_a), ("monomer_b", self.dimer.monomer_b)):
                if mol.multiplicity != 1:
                    raise InputError("psi4 1.3.2's SAPT(DFT) is closed-shell only", field=f"dimer.{label}",
                                     fix="use method sapt0 for open-shell monomers")
        return self

    def molecules(self) -> list[QMMolecule]:
        return [self.dimer.monomer_a, self.dimer.monomer_b]

    def hash_fields(self) -> dict[str, Any]:
        fields = super().hash_fields()
        shifts = (self.grac_shift_a, self.grac_shift_b)
        fields["grac_shifts"] = [None if s is None else f"{s:.8f}" for s in shifts]
        return fields

    @property
    def psi4_options(self) -> dict[str, OptionValue]:
        """The options written to psi4 (lower-case keys): ``scf_type df`` (and ``reference uhf`` for an
        open-shell monomer) unless the user chose otherwise."""
        options: dict[str, OptionValue] = {"scf_type": "df"}
        if any(mol.multiplicity > 1 for mol in self.molecules()):
            options["reference"] = "uhf"  # psi4's open-shell SAPT0
        options.update({str(k).lower(): v for k, v in self.options.items()})
        return options


class SaptResult(QMResult):
    """SAPT components of a dimer in kJ/mol.

    ``induction`` is psi4's: it includes delta-HF, which is also reported alone as ``delta_hf``.
    ``psivars`` holds every psi4 variable the run set, in hartree, as psi4 printed it.
    """

    method: str
    basis: str
    units: str = "kJ/mol"
    electrostatics: float
    exchange: float
    induction: float
    delta_hf: float
    dispersion: float
    total: float
    grac_shift_a: float | None = Field(None, description="kJ/mol")
    grac_shift_b: float | None = Field(None, description="kJ/mol")
    ionization_potentials: tuple[float, float] | None = Field(None, description="kJ/mol, delta-SCF")
    homo_energies: tuple[float, float] | None = Field(None, description="kJ/mol")
    attempts: int = 1
    psivars: dict[str, float] = Field(default_factory=dict)

    @property
    def components(self) -> dict[str, float]:
        """The six components by name, kJ/mol."""
        return {name: getattr(self, name) for name in COMPONENTS}


def parse_option(text: str) -> tuple[str, OptionValue]:
    """``KEY=VALUE`` from the command line into (lower-case key, bool/int/float/str value)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"option {text!r} is not KEY=VALUE", field="--option", fix="write e.g. maxiter=200")
    raw = value.strip()
    parsed: OptionValue
    if raw.lower() in ("true", "false"):
        parsed = raw.lower() == "true"
    else:
        try:
            parsed = int(raw)
        except ValueError:
            try:
                parsed = float(raw)
            except ValueError:
                parsed = raw
    return key.strip().lower(), parsed


def basis_file_name(basis: str) -> str:
    """psi4's file name of a basis: lower case; ( ) , become _; * becomes s; + becomes p."""
    name = basis.lower()
    for old, new in (("(", "_"), (")", "_"), (",", "_"), ("*", "s"), ("+", "p")):
        name = name.replace(old, new)
    return f"{name}.gbs"


@functools.lru_cache(maxsize=64)
def basis_elements(basis: str, basis_dir: Path = DEFAULT_BASIS_DIR) -> frozenset[str]:
    """The elements a psi4 library basis set covers; ``InputError`` when psi4 has no such basis."""
    path = Path(basis_dir) / basis_file_name(basis)
    if not path.is_file():
        raise InputError(f"psi4 has no basis set {basis!r} (no {path.name} in {basis_dir})", field="basis",
                         fix="use a basis from psi4's library, e.g. jun-cc-pvdz, aug-cc-pvdz, def2-svp")
    elements: set[str] = set()
    expect_entry = False
    for line in path.read_text(errors="replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("****"):
            expect_entry = True
            continue
        if expect_entry and stripped and not stripped.startswith("!"):
            parts = stripped.split()
            if len(parts) == 2 and parts[1] == "0":
                elements.add(parts[0].capitalize())
            expect_entry = False
    return frozenset(elements)


def _fmt(value: OptionValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _molecule_block(name: str, molecules: Sequence[QMMolecule], charge_shift: int = 0) -> str:
    lines = [f"molecule {name} {{"]
    for index, mol in enumerate(molecules):
        if index:
            lines.append("--")
        charge = mol.charge + charge_shift
        multiplicity = mol.multiplicity
        if charge_shift:  # one electron removed: a closed shell becomes a doublet
            multiplicity = 2 if mol.multiplicity == 1 else mol.multiplicity - 1
        lines.append(f"{charge} {multiplicity}")
        for symbol, (x, y, z) in zip(mol.symbols, mol.coordinates_angstrom, strict=True):
            lines.append(f"{symbol:<3s} {x:18.10f} {y:18.10f} {z:18.10f}")
    lines += ["units angstrom", "no_com", "no_reorient", "symmetry c1", "}"]
    return "\n".join(lines)


def write_sapt_input(input: SaptInput, options: dict[str, OptionValue], memory_mb: int) -> str:
    """The psithon input file text of one SAPT run (with the GRAC delta-SCF steps SAPT(DFT) needs)."""
    method = input.method.lower()
    parts = [f"memory {memory_mb} mb", _molecule_block("dimer", input.molecules()), "set {",
             f"  basis {input.basis}"]
    parts += [f"  {key} {_fmt(value)}" for key, value in options.items()]
    parts.append("}")
    if method == "sapt(dft)":
        functional = str(options.get("sapt_dft_functional", "pbe0"))
        shifts = (input.grac_shift_a, input.grac_shift_b)
        for label, mol, shift in zip("AB", input.molecules(), shifts, strict=True):
            key = f"sapt_dft_grac_shift_{label.lower()}"
            if shift is not None or key in options:
                if key not in options:
                    parts.append(f"set {key} {shift / HARTREE_TO_KJ_MOL:.12f}")
                continue
            parts += [
                _molecule_block(f"mono_{label}", [mol]),
                "set reference rks",
                f"e_n, wfn_n = energy('{functional}', molecule=mono_{label}, return_wfn=True)",
                "homo = wfn_n.epsilon_a().get(0, wfn_n.nalpha() - 1)",
                _molecule_block(f"cation_{label}", [mol], charge_shift=1),
                "set reference uks",
                f"e_c = energy('{functional}', molecule=cation_{label})",
                "set reference rhf",
                f"psi4.core.print_out('PHYNEO_GRAC {label} ip=%.16e homo=%.16e\\n' % (e_c - e_n, homo))",
                f"psi4.core.set_global_option('{key.upper()}', (e_c - e_n) + homo)",
            ]
        parts.append("clean()")
    parts += [f"energy('{method}', molecule=dimer)",
              "for _k, _v in sorted(psi4.core.variables().items()):",
              "    psi4.core.print_out('PHYNEO_PSIVAR %s = %.16e\\n' % (_k, _v))", ""]
    return "\n".join(parts)


def parse_psivars(output: str) -> dict[str, float]:
    """The psi4 variables (hartree) that our input prints into ``output.dat``."""
    return {name: float(value) for name, value in _PSIVAR_LINE.findall(output)}


def parse_sapt_output(output: str, method: str) -> dict[str, Any]:
    """Components (kJ/mol), GRAC data (kJ/mol) and raw psi4 variables (hartree) from ``output.dat`` text.

    Raises ``KeyError`` when a component is missing (the run did not finish).
    """
    psivars = parse_psivars(output)
    names = dict(_PSIVARS_COMMON, delta_hf=_PSIVAR_DELTA_HF[method.lower()])
    values: dict[str, Any] = {key: psivars[name] * HARTREE_TO_KJ_MOL for key, name in names.items()}
    grac = {label: (float(ip), float(homo)) for label, ip, homo in _GRAC_LINE.findall(output)}
    if "A" in grac and "B" in grac:
        values["ionization_potentials"] = (grac["A"][0] * HARTREE_TO_KJ_MOL, grac["B"][0] * HARTREE_TO_KJ_MOL)
        values["homo_energies"] = (grac["A"][1] * HARTREE_TO_KJ_MOL, grac["B"][1] * HARTREE_TO_KJ_MOL)
    for label, (ip, homo) in grac.items():
        values[f"grac_shift_{label.lower()}"] = (ip + homo) * HARTREE_TO_KJ_MOL
    values["psivars"] = psivars
    return values


def engine_message(text: str) -> str:
    """psi4's own error message (the last ``SomethingError: message`` line), or the tail of the text."""
    matches = _ERROR_LINE.findall(text)
    if matches:
        kind, message = matches[-1]
        return f"{kind}: {message.strip()}"
    tail = [line for line in text.strip().splitlines() if line.strip()][-5:]
    return "\n".join(tail) or "psi4 failed without a message"


def _is_scf_convergence_failure(message: str) -> bool:
    return "ConvergenceError" in message or "Could not converge" in message


def installed_version(executable: str | Path) -> str | None:
    """The ``__version__`` in the ``psi4/metadata.py`` installed beside a psi4 executable (Debian:
    ``/usr/lib/<multiarch>/psi4``; conda: ``lib/python3.X/site-packages/psi4``), or None."""
    prefix = Path(os.path.realpath(executable)).parent.parent
    patterns = ("lib/*/psi4/metadata.py", "lib/python3*/site-packages/psi4/metadata.py", "lib/psi4/metadata.py")
    for pattern in patterns:
        for path in sorted(prefix.glob(pattern)):
            match = _VERSION_LINE.search(path.read_text(errors="replace"))
            if match:
                return match.group(1)
    return None


class Psi4Harness:
    """Runs psi4 as a program. ``threads`` for ``psi4 -n``; ``memory_mb`` for its ``memory`` line;
    ``scratch_root`` where scratch directories are made (default: the system temp dir); ``keep_scratch``
    keeps them after a success too."""

    name = "psi4"

    def __init__(self, executable: str = "psi4", threads: int | None = None, memory_mb: int = 2000,
                 scratch_root: str | Path | None = None, basis_dir: str | Path = DEFAULT_BASIS_DIR,
                 timeout_s: float | None = None, keep_scratch: bool = False):
        self.executable = executable
        self.threads = threads or os.cpu_count() or 1
        self.memory_mb = memory_mb
        self.scratch_root = Path(scratch_root) if scratch_root else None
        self.basis_dir = Path(basis_dir)
        self.timeout_s = timeout_s
        self.keep_scratch = keep_scratch
        self._version: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Psi4Harness:
        """A harness configured from ``phyneo_flows.settings.Settings`` (executable, threads, memory, scratch)."""
        scratch = Path(settings.data_dir).expanduser() / "scratch" / "psi4"
        scratch.mkdir(parents=True, exist_ok=True)
        return cls(executable=settings.psi4 or "psi4", threads=settings.n_threads, memory_mb=settings.memory_mb,
                   scratch_root=scratch, keep_scratch=settings.keep_scratch)

    def found(self) -> bool:
        return shutil.which(self.executable) is not None

    def version(self) -> str:
        """psi4's version, read from its installed ``psi4/metadata.py`` (no engine start); only when that
        file is not found is ``psi4 --version`` run (which imports all of psi4, about 1.5 s)."""
        if self._version is None:
            executable = shutil.which(self.executable)
            if executable is None:
                raise EngineNotFoundError(f"{self.executable} is not on PATH", field="engine",
                                          fix="apt-get install --no-install-recommends psi4")
            self._version = installed_version(executable)
            if self._version is None:
                out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False)
                self._version = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "unknown"
        return self._version

    def validate(self, input: SaptInput) -> None:
        """Every check that needs no engine: the basis exists and covers every element."""
        covered = basis_elements(input.basis, self.basis_dir)
        missing = sorted({s for mol in input.molecules() for s in mol.symbols} - covered)
        if missing:
            raise InputError(f"basis {input.basis!r} has no functions for {', '.join(missing)}",
                             field="basis", fix="choose a basis that covers every element (e.g. def2-svp)")

    def compute(self, input: SaptInput) -> SaptResult | QMFailure:
        """Run one SAPT calculation; engine failures come back as ``QMFailure``."""
        self.validate(input)
        input_hash = input.input_hash(self.name, self.version())
        start = time.perf_counter()
        user_options = input.psi4_options
        message, scratch = "", None
        ladder: list[dict[str, OptionValue]] = [{}, *SCF_RETRIES]
        for attempt, extra in enumerate(ladder, start=1):
            options = {**extra, **user_options}
            scratch = Path(tempfile.mkdtemp(prefix="phyneo-psi4-", dir=self.scratch_root))
            ok, output, message = self._run(scratch, write_sapt_input(input, options, self.memory_mb))
            if ok:
                try:
                    values = parse_sapt_output(output, input.method)
                except KeyError as exc:
                    message = f"psi4 finished but printed no {exc.args[0]!r}"
                    break
                if not self.keep_scratch:
                    shutil.rmtree(scratch, ignore_errors=True)
                if input.method.lower() == "sapt(dft)":
                    for label in "ab":
                        given = options.get(f"sapt_dft_grac_shift_{label}")
                        shift = getattr(input, f"grac_shift_{label}")
                        if given is not None:
                            shift = float(given) * HARTREE_TO_KJ_MOL
                        values.setdefault(f"grac_shift_{label}", shift)
                return SaptResult(engine=self.name, version=self.version(), input_hash=input_hash,
                                  wall_time_s=time.perf_counter() - start, method=input.method.lower(),
                                  basis=input.basis.lower(), attempts=attempt, **values)
            if not _is_scf_convergence_failure(message) or attempt == len(ladder):
                break
            shutil.rmtree(scratch, ignore_errors=True)
        kind = "SCFConvergenceError" if _is_scf_convergence_failure(message) else "EngineError"
        return QMFailure(engine=self.name, message=message, input_hash=input_hash,
                         scratch_dir=str(scratch) if scratch else None, attempts=attempt, error_type=kind)

    def _run(self, scratch: Path, text: str) -> tuple[bool, str, str]:
        """Write ``input.dat`` in ``scratch``, run psi4; (success, output text, engine message)."""
        (scratch / "input.dat").write_text(text)
        env = dict(os.environ, PSI_SCRATCH=str(scratch))
        try:
            proc = subprocess.run([self.executable, "-n", str(self.threads), "input.dat", "output.dat"],
                                  cwd=scratch, env=env, capture_output=True, text=True,
                                  timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return False, "", f"psi4 ran past {self.timeout_s} s"
        output_path = scratch / "output.dat"
        output = output_path.read_text(errors="replace") if output_path.exists() else ""
        (scratch / "psi4.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode == 0 and _PSIVAR_LINE.search(output):
            return True, output, ""
        return False, output, engine_message("\n".join((output, proc.stdout, proc.stderr)))


register_harness("psi4", Psi4Harness)
