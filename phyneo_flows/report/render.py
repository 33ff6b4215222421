"""Collect a formulation's records from the JobStore and render them.

Sections appear as their stages exist: the formulation and its box, the stages with their cost, the
predicted properties beside experiment (with a plot), and any other stage as a summary.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import JobStore

from phyneo_flows.errors import InputError


@dataclass
class ReportData:
    formulation: str
    records: list[dict]
    box: dict | None = None
    properties: list[dict] = field(default_factory=list)
    fits: list[dict] = field(default_factory=list)
    md_runs: list[dict] = field(default_factory=list)
    sapt: list[dict] = field(default_factory=list)

    @property
    def stages(self) -> list[dict]:
        rows = []
        for r in self.records:
            o = r.get("output") or {}
            wall, cores = o.get("wall_time_s"), o.get("cores")
            rows.append({"stage": o.get("stage"), "job": r.get("name"), "generation": o.get("generation"),
                         "completed": str(r.get("completed_at", ""))[:19], "wall_time_s": wall, "cores": cores,
                         "core_hours": wall * cores / 3600 if wall is not None and cores else None,
                         "reused": o.get("reused_from") is not None})
        return rows

    @property
    def stage_costs(self) -> list[dict]:
        """Per stage: jobs, wall time (s) and core-hours of the work actually computed (reuses cost 0)."""
        costs: dict[str, dict] = {}
        for s in self.stages:
            c = costs.setdefault(str(s["stage"]), {"stage": s["stage"], "jobs": 0, "reused": 0, "wall_time_s": 0.0,
                                                   "core_hours": 0.0})
            c["jobs"] += 1
            if s["reused"]:
                c["reused"] += 1
                continue
            c["wall_time_s"] += s["wall_time_s"] or 0.0
            c["core_hours"] += s["core_hours"] or 0.0
        return list(costs.values())


def collect(store: JobStore, formulation: str) -> ReportData:
    """Every record of ``formulation``; raises ``InputError`` when there is none."""
    records = list(store.query({"output.formulation": formulation},
                               properties=["uuid", "name", "completed_at", "output"], load=False,
                               sort={"completed_at": 1}))
    if not records:
        raise InputError(f"the database holds nothing for {formulation!r}", field="FORMULATION",
                         fix="run `phyneo run FORMULATION.yaml` first, or check `phyneo status`")
    data = ReportData(formulation=formulation, records=records)
    for r in records:
        o = r["output"]
        if o.get("stage") == "box":
            data.box = o
        for p in o.get("properties") or []:
            data.properties.append(p | {"generation": o.get("generation"), "job_id": r["uuid"]})
    # the fit and MD documents with their arrays (parity data, traces) from the data store
    for stage, target in (("fit", data.fits), ("md", data.md_runs), ("sapt", data.sapt)):
        for d in store.query({"output.formulation": formulation, "output.stage": stage},
                             properties=["uuid", "output"], load=True, sort={"completed_at": 1}):
            if d["output"].get("reused_from") is None:
                target.append(d["output"] | {"job_id": d["uuid"]})
    return data


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _parity_plot(fit: dict) -> str | None:
    """Predicted against reference energy per pair type (fit document's ``parity``)."""
    parity = fit.get("parity") or {}
    if not parity:
        return None
    plt = _pyplot()
    n = len(parity)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 3.0), squeeze=False)
    for ax, (pt, d) in zip(axes[0], sorted(parity.items()), strict=True):
        ref, pred = d.get("reference_kj_mol") or [], d.get("predicted_kj_mol") or []
        ax.scatter(ref, pred, s=8)
        if ref:
            lo, hi = min(min(ref), min(pred)), max(max(ref), max(pred))
            ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8)
        ax.set_title(pt, fontsize=10)
        ax.set_xlabel("reference (kJ/mol)")
        ax.set_ylabel("force field (kJ/mol)")
    return _png(fig)


def _trace_plot(md: dict) -> str | None:
    """Density, potential energy and temperature against time of one MD run (its ``traces``)."""
    tr = md.get("traces") or {}
    if not tr.get("time_ps"):
        return None
    plt = _pyplot()
    panels = [("density_g_cm3", "density (g/cm3)"), ("potential_energy_kj_mol", "potential energy (kJ/mol)"),
              ("temperature_k", "temperature (K)")]
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), squeeze=False)
    for ax, (k, label) in zip(axes[0], panels, strict=True):
        ax.plot(tr["time_ps"], tr.get(k) or [float("nan")] * len(tr["time_ps"]), lw=0.8)
        ax.set_xlabel("time (ps)")
        ax.set_ylabel(label)
    return _png(fig)


def _property_plot(props: list[dict]) -> str | None:
    """PNG (base64) of predictions with error bars beside experiment, one panel per property."""
    with_exp = [p for p in props if p.get("experiment")]
    if not with_exp:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(with_exp), figsize=(3.2 * len(with_exp), 3.0), squeeze=False)
    for ax, p in zip(axes[0], with_exp, strict=True):
        exp = p["experiment"]
        ax.bar([0], [p["value"]], yerr=[p.get("uncertainty") or 0.0], color="tab:blue", capsize=6, label="predicted")
        ax.bar([1], [exp["value"]], color="tab:gray", label="experiment")
        ax.set_xticks([0, 1], ["phyneo", "exp."])
        ax.set_title(f"{p['name']} ({p['unit']})", fontsize=10)
    return _png(fig)


def _fmt(value: Any, unc: Any = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if unc is not None:
        text += f" ± {unc:.2g}"
    return text


def render_markdown(data: ReportData) -> str:
    lines = [f"# {data.formulation}", ""]
    if data.box:
        comp = data.box["composition"]
        lines += ["## Formulation and box", "",
                  f"{data.box['n_atoms']} atoms in a {data.box['box_length_nm']:.3f} nm cubic box at "
                  f"{data.box['density_g_cm3']:.3f} g/cm3 (starting estimate).", "",
                  "| species | count | charge |", "| --- | --- | --- |"]
        lines += [f"| {c['species']} | {c['count']} | {c['charge']:+d} |" for c in comp["counts"]]
        for s in comp["salts"]:
            lines.append(f"\n{s['salt']}: {s['realised']:.3f} {s['unit']} realised "
                         f"(requested {s['requested']:g} {s['unit']}).")
        lines.append("")
    if data.sapt:
        lines += ["## Reference QM: SAPT dimers", "",
                  "| pair type | generation | method | dimers | failed | closest contacts (Å) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for d in data.sapt:
            rows = d.get("results") or []
            contacts = [r["closest_contact_a"] for r in rows if r.get("closest_contact_a") is not None]
            span = f"{min(contacts):.2f}-{max(contacts):.2f}" if contacts else "-"
            lines.append(f"| {d.get('pair_type')} | {d.get('generation')} | {d.get('method')}/{d.get('basis')} | "
                         f"{len(rows)} | {len(d.get('failures') or [])} | {span} |")
        lines.append("")
    for fit in data.fits:
        lines += [f"## Force field generation {fit.get('generation')}: fit", ""]
        prov = (fit.get("params") or {}).get("provenance") or fit.get("provenance") or {}
        if prov:
            lines += ["Provenance: " + "; ".join(f"{k}: {v}" for k, v in prov.items() if k != "qm_jobs"), ""]
        metrics = fit.get("pair_metrics") or {}
        if metrics:
            cols = sorted({k for m in metrics.values() for k in m})
            lines += ["| pair type | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
            lines += [f"| {pt} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |"
                      for pt, m in sorted(metrics.items())]
            lines.append("")
    for md in data.md_runs:
        cfg = md.get("config") or {}
        lines += [f"## MD (generation {md.get('generation')})", "",
                  f"{md.get('n_atoms')} atoms, {_fmt(md.get('npt_ps'))} ps of {cfg.get('ensemble', '').upper()} at "
                  f"{_fmt(cfg.get('temperature_k'))} K and {_fmt(cfg.get('pressure_bar'))} bar, time step "
                  f"{_fmt(1000 * (md.get('timestep_ps') or 0))} fs, cutoff {_fmt(md.get('cutoff_nm'))} nm, "
                  f"{md.get('backend')} back end, {_fmt(md.get('ns_per_day'))} ns/day; force field: "
                  f"{'generation-0 literature parameters' if md.get('ff_key') == 'generation-0' else md.get('ff_key')}"
                  f"; guard trips: {len(md.get('trips') or [])}.", ""]
    if data.properties:
        lines += ["## Properties beside experiment", "",
                  "| property | predicted | unit | method | averaged over (ps) | experiment | source |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for p in data.properties:
            exp = p.get("experiment")
            window = (p.get("details") or {}).get("fit_window_ps")
            span = f"{window[0]:.1f}-{window[1]:.1f}" if window else "-"
            lines.append(f"| {p['name']} | {_fmt(p['value'], p.get('uncertainty'))} | {p['unit']} | {p['method']} | "
                         f"{span} | {_fmt(exp['value']) if exp else '-'} | {exp['source'] if exp else '-'} |")
        lines.append("")
    lines += ["## Cost per stage", "", "| stage | jobs | reused | wall time (s) | core-hours |",
              "| --- | --- | --- | --- | --- |"]
    lines += [f"| {c['stage']} | {c['jobs']} | {c['reused']} | {c['wall_time_s']:.1f} | {c['core_hours']:.3f} |"
              for c in data.stage_costs]
    lines += ["", "## Stages and their cost", "",
              "| stage | job | generation | completed | wall time (s) | cores | core-hours |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {s['stage']} | {s['job']} | {s['generation']} | {s['completed']} | {_fmt(s['wall_time_s'])} | "
              f"{_fmt(s['cores'])} | {_fmt(s['core_hours'])} |" for s in data.stages]
    return "\n".join(lines) + "\n"


def render_html(data: ReportData) -> str:
    """A self-contained HTML page (plots inlined as PNG)."""
    md = render_markdown(data)
    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-", " "}:
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    plots = [("properties beside experiment", _property_plot(data.properties))]
    plots += [(f"fit parity, generation {f.get('generation')}", _parity_plot(f)) for f in data.fits]
    plots += [(f"MD traces, generation {m.get('generation')}", _trace_plot(m)) for m in data.md_runs]
    plots = [(title, png) for title, png in plots if png]
    if plots:
        body.append("<h2>Plots</h2>")
        for title, png in plots:
            body.append(f'<h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" '
                        f'src="data:image/png;base64,{png}">')
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:.2em .6em}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(data.formulation)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(data: ReportData, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md = directory / f"{data.formulation}.md"
    page = directory / f"{data.formulation}.html"
    md.write_text(render_markdown(data))
    page.write_text(render_html(data))
    return page, md
