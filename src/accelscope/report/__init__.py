"""Reports: the demo scenario, figures (plotly, matplotlib) and a self-contained HTML page."""

from .demo import DemoResults, run_demo
from .html import write_demo_report

__all__ = ["DemoResults", "run_demo", "write_demo_report"]
