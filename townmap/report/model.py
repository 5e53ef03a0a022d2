"""The report as data: blocks in order. Figures and tables are numbered when the report
is finished, so a renderer only prints what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 1
    anchor: str = ""


@dataclass
class Paragraph:
    text: str
    style: str = "body"  # body | note | warning


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str
    number: int = 0
    label: str = ""  # "表 3" / "Table 3", set by Report.finish


@dataclass
class Figure:
    png: bytes
    caption: str
    width_cm: float = 16.0
    number: int = 0
    label: str = ""


Block = Heading | Paragraph | Table | Figure


@dataclass
class Report:
    title: str
    subtitle: str
    lang: str
    fictional: bool
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def finish(self) -> Report:
        """Number the figures and tables in reading order."""
        fig = tab = 0
        for block in self.blocks:
            if isinstance(block, Figure):
                fig += 1
                block.number = fig
                block.label = f"图 {fig}" if self.lang == "zh" else f"Figure {fig}"
            elif isinstance(block, Table):
                tab += 1
                block.number = tab
                block.label = f"表 {tab}" if self.lang == "zh" else f"Table {tab}"
        return self

    def headings(self, level: int = 1) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Heading) and b.level == level]

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]
