"""Reports: the demo scenario, figures (plotly, matplotlib) and a self-contained HTML page."""

from .demo import DemoResults, run_demo
from .html import write_demo_report, write_report
from .scenario import DEMO, Scenario, load_scenario

__all__ = ["DEMO", "DemoResults", "Scenario", "load_scenario", "run_demo", "write_demo_report", "write_report"]
