"""ipywidgets front ends: the job monitor and the profile form (imported on first use)."""

from __future__ import annotations

from .config_form import ConfigForm, config_widget
from .monitor import JobMonitor, monitor

__all__ = ["ConfigForm", "JobMonitor", "config_widget", "monitor"]
