"""The visual report of a fitted model: ``modenorm report`` and its Python API.

Needs matplotlib (``pip install 'modenorm[report]'``), imported only when a
figure is drawn.
"""

from modenorm.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
