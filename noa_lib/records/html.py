"""HTML renderings of records (nbconvert), for people who will not open JupyterLab."""

from __future__ import annotations

from typing import Any


def render_html(notebook: dict[str, Any], *, hide_input: bool = False) -> str:
    """The notebook as a standalone HTML page (``hide_input`` for stakeholder reports).

    Raises:
        ValueError: the notebook is not valid nbformat v4.
    """
    import json

    import nbformat
    from nbconvert import HTMLExporter

    # reads() (unlike from_dict) joins multi-line sources the way nbconvert expects
    node = nbformat.reads(json.dumps(notebook), as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(template_name="lab")  # type: ignore[no-untyped-call]
    exporter.exclude_input = hide_input
    exporter.exclude_input_prompt = hide_input
    body, _resources = exporter.from_notebook_node(node)
    return str(body)


__all__ = ["render_html"]
