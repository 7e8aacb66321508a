"""Shared look of the widgets: state colours (JupyterLab theme variables), durations, bars."""

from __future__ import annotations

STATE_COLOURS = {
    "SUBMITTING": "var(--jp-warn-color1, #f57c00)",
    "PENDING": "var(--jp-warn-color1, #f57c00)",
    "RUNNING": "var(--jp-brand-color1, #1976d2)",
    "COMPLETED": "var(--jp-success-color1, #388e3c)",
    "FAILED": "var(--jp-error-color1, #d32f2f)",
    "TIMEOUT": "var(--jp-error-color1, #d32f2f)",
    "LOST": "var(--jp-error-color1, #d32f2f)",
    "CANCELLED": "var(--jp-ui-font-color2, #757575)",
}

_BAR_ORDER = (
    "COMPLETED",
    "FAILED",
    "TIMEOUT",
    "LOST",
    "CANCELLED",
    "RUNNING",
    "PENDING",
    "SUBMITTING",
)


def elapsed_text(seconds: float | None, missing: str = "") -> str:
    """'3.2s', '4m12s', '1h03m': short enough for a column, precise enough to compare;
    ``missing`` before the job started."""
    if seconds is None:
        return missing
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    total = int(seconds)
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def progress_bar(counts: dict[str, int], size: int) -> str:
    """A stacked bar (done / failed / running / pending) with its numbers as a tooltip."""
    size = max(size, 1)
    parts = []
    for state in _BAR_ORDER:
        n = counts.get(state, 0)
        if n:
            parts.append(
                f"<span style='display:inline-block;height:0.8em;width:{100 * n / size:.2f}%;"
                f"background:{STATE_COLOURS[state]}'></span>"
            )
    title = ", ".join(f"{counts[s]} {s.lower()}" for s in _BAR_ORDER if counts.get(s))
    done = counts.get("COMPLETED", 0)
    return (
        f"<span title='{title}' style='display:inline-block;width:10em;max-width:60%;"
        "background:var(--jp-layout-color3, #ddd);line-height:0'>"
        f"{''.join(parts)}</span> {done}/{size}"
    )


def card(title: str, state: str, rows: list[tuple[str, str]]) -> str:
    """A compact status card for rich reprs (values must already be HTML-escaped)."""
    colour = STATE_COLOURS.get(state, "inherit")
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{k}</th>"
        f"<td style='text-align:left'>{v}</td></tr>"
        for k, v in rows
        if v
    )
    return (
        "<div class='clusterlab-card' style='border:1px solid var(--jp-border-color2,#ccc);"
        "border-radius:4px;padding:0.4em 0.8em;display:inline-block'>"
        f"<b>{title}</b> <span style='color:{colour};font-weight:bold'>{state}</span>"
        f"<table style='margin:0.3em 0 0 0'>{body}</table></div>"
    )
