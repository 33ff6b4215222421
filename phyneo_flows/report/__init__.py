"""The report of one formulation: what the database holds, as Markdown and HTML with plots."""

from phyneo_flows.report.render import ReportData, collect, render_html, render_markdown, write_report

__all__ = ["ReportData", "collect", "render_html", "render_markdown", "write_report"]
