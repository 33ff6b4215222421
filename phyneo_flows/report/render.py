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

    @property
    def stages(self) -> list[dict]:
        rows = []
        for r in self.records:
            o = r.get("output") or {}
            rows.append({"stage": o.get("stage"), "job": r.get("name"), "generation": o.get("generation"),
                         "completed": str(r.get("completed_at", ""))[:19], "wall_time_s": o.get("wall_time_s"),
                         "cores": o.get("cores")})
        return rows


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
    return data


def _property_plot(props: list[dict]) -> str | None:
    """PNG (base64) of predictions with error bars beside experiment, one panel per property."""
    with_exp = [p for p in props if p.get("experiment")]
    if not with_exp:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(with_exp), figsize=(3.2 * len(with_exp), 3.0), squeeze=False)
    for ax, p in zip(axes[0], with_exp, strict=True):
        exp = p["experiment"]
        ax.bar([0], [p["value"]], yerr=[p.get("uncertainty") or 0.0], color="tab:blue", capsize=6, label="predicted")
        ax.bar([1], [exp["value"]], color="tab:gray", label="experiment")
        ax.set_xticks([0, 1], ["phyneo", "exp."])
        ax.set_title(f"{p['name']} ({p['unit']})", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


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
    if data.properties:
        lines += ["## Properties beside experiment", "",
                  "| property | predicted | unit | method | experiment | source |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for p in data.properties:
            exp = p.get("experiment")
            lines.append(f"| {p['name']} | {_fmt(p['value'], p.get('uncertainty'))} | {p['unit']} | {p['method']} | "
                         f"{_fmt(exp['value']) if exp else '-'} | {exp['source'] if exp else '-'} |")
        lines.append("")
    lines += ["## Stages and their cost", "", "| stage | job | generation | completed | wall time (s) | cores |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {s['stage']} | {s['job']} | {s['generation']} | {s['completed']} | {_fmt(s['wall_time_s'])} | "
              f"{_fmt(s['cores'])} |" for s in data.stages]
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
    plot = _property_plot(data.properties)
    if plot:
        body.append(f'<h2>Plots</h2><img alt="properties beside experiment" src="data:image/png;base64,{plot}">')
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
