"""Campaign reports and customer analytics, computed from the message and event logs (issue 6)."""

from __future__ import annotations

from engine.reports.report import ReportInput, build_report

__all__ = ["ReportInput", "build_report"]
