"""Statistics written to a folder: JSON, CSV and charts (PNG and SVG) for the yearly report."""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cases.stats import LIGHTS, Statistics

_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828"}


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        if not rows:
            return
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _flatten(f"{prefix}{k}.", v)]
    return [(prefix.rstrip("."), "" if value is None else value)]


def write_outputs(stats: Statistics, out_dir: Path, *, charts: bool = True) -> list[Path]:
    """Write summary.json, summary.csv, monthly.csv, by_unit.csv, by_kind.csv and charts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    document = {
        "summary": stats.summary,
        "monthly": stats.monthly,
        "by_unit": stats.by_unit,
        "by_kind": stats.by_kind,
    }
    path = out_dir / "summary.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(path)
    path = out_dir / "summary.csv"
    _write_csv(path, [{"metric": k, "value": v} for k, v in _flatten("", stats.summary)])
    written.append(path)
    for name, rows in (
        ("monthly", stats.monthly),
        ("by_unit", stats.by_unit),
        ("by_kind", stats.by_kind),
    ):
        path = out_dir / f"{name}.csv"
        _write_csv(path, rows)
        written.append(path)
    if charts:
        written.extend(draw_charts(stats, out_dir))
    return written


def draw_charts(stats: Statistics, out_dir: Path) -> list[Path]:
    # The object-oriented API draws without pyplot's global state or a display.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    def counts(axis: Any) -> None:
        axis.set_major_locator(MaxNLocator(integer=True))  # no "2.5 recordings"

    written: list[Path] = []

    def save(fig: Figure, stem: str) -> None:
        fig.tight_layout()
        with warnings.catch_warnings():
            # Unit names in scripts the bundled font lacks still chart, as empty boxes.
            warnings.filterwarnings(
                "ignore", message=r"Glyph .* missing from", category=UserWarning
            )
            for suffix, meta in ((".png", {"Software": None}), (".svg", {"Date": None})):
                path = out_dir / f"{stem}{suffix}"
                fig.savefig(path, metadata=meta)
                written.append(path)

    span = f"{stats.summary['from'][:10]} to {stats.summary['to'][:10]}"
    labels = [row["month"] for row in stats.monthly]

    fig = Figure(figsize=(10, 4.5))
    ax = fig.add_subplot()
    ax.bar(labels, [row["recordings"] for row in stats.monthly], color="#1565c0")
    ax.set_ylabel("recordings")
    counts(ax.yaxis)
    ax.set_title(f"Recordings per month, {span}")
    ax2 = ax.twinx()
    ax2.plot(labels, [row["hours"] for row in stats.monthly], color="#ef6c00", marker="o")
    ax2.set_ylabel("hours")
    ax.tick_params(axis="x", rotation=45)
    save(fig, "recordings_per_month")

    fig = Figure(figsize=(10, 5))
    ax = fig.add_subplot()
    names = [row["name"] for row in stats.by_kind]
    bottom = [0] * len(names)
    for light in LIGHTS:
        values = [row[light] for row in stats.by_kind]
        ax.barh(names, values, left=bottom, color=_COLOURS[light], label=light)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlabel("steps")
    counts(ax.xaxis)
    ax.set_title(f"Step compliance by kind, {span}")
    ax.legend()
    save(fig, "step_lights_by_kind")

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    units = [row for row in stats.by_unit if row["compliance_rate"] is not None]
    ax.bar(
        [row["unit"] or "(none)" for row in units],
        [100 * row["compliance_rate"] for row in units],
        color="#2e7d32",
    )
    ax.set_ylim(0, 100)
    ax.set_ylabel("required steps green (%)")
    ax.set_title(f"Compliance rate by unit, {span}")
    save(fig, "compliance_by_unit")

    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    hours = [d / 3600.0 for d in stats.upload_delays_s]
    if hours:
        ax.hist(hours, bins=min(40, max(5, len(hours) // 10)), color="#6a1b9a")
    ax.set_xlabel("hours from capture to upload")
    ax.set_ylabel("recordings")
    counts(ax.yaxis)
    ax.set_title(f"Capture-to-upload time, {span}")
    save(fig, "capture_to_upload")
    return written
