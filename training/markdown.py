"""Markdown tables for model cards and evaluation reports."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    if frame.empty:
        return "_none_\n"
    cells = frame.map(lambda v: f"{v:.{digits}f}" if isinstance(v, float | np.floating) else str(v))
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(row) + " |" for row in cells.to_numpy()]
    return "\n".join([head, rule, *body]) + "\n"
