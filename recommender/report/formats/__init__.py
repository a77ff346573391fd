"""Report formatters, by name. Each renders a :class:`~recommender.report.model.Report` to text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recommender.report.formats import (
    csv_rows,
    dra,
    html_page,
    json_doc,
    markdown,
    patch,
    table,
    vpa,
)
from recommender.report.model import Report


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    render: Callable[[Report], str]


class FormatRegistry:
    """Named formats; ``table`` also takes a colour switch."""

    def __init__(self) -> None:
        self._formats: dict[str, Format] = {}

    def register(self, fmt: Format) -> None:
        self._formats[fmt.name] = fmt

    def names(self) -> list[str]:
        return list(self._formats)

    def get(self, name: str) -> Format:
        try:
            return self._formats[name]
        except KeyError:
            valid = ", ".join(self._formats)
            raise ValueError(f"unknown format {name!r}; valid: {valid}") from None

    def render(self, name: str, report: Report, color: bool = False) -> str:
        if name == "table":
            return table.render(report, color=color)
        return self.get(name).render(report)


FORMATS = FormatRegistry()
for _fmt in (
    Format("table", "terminal report, 100 columns, colour on a TTY", table.render),
    Format("json", "stable document, schema in recommender/report/report.schema.json",
           json_doc.render),
    Format("csv", "one row per container and resource", csv_rows.render),
    Format("markdown", "tables for pull requests and wikis", markdown.render),
    Format("html", "self-contained page with charts (no scripts, works offline)",
           html_page.render),
    Format("patch", "shell script of kubectl strategic-merge patches of resources",
           patch.render),
    Format("vpa", "VerticalPodAutoscalers (updateMode Off) for workloads without one",
           vpa.render),
    Format("dra", "ResourceClaimTemplates (resource.k8s.io/v1) expressing GPU "
           "recommendations for NVIDIA's DRA driver", dra.render),
):
    FORMATS.register(_fmt)
