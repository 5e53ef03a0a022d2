"""Siting rules as data: one TOML file per rule under ``layers/rules/``.

A rule says which features it applies to (layer, sectors, attribute conditions, new or
existing), what they must keep away from (a constraint layer and a geometric predicate,
with a distance that may depend on attributes or on the town's context such as the mean
wind speed), how serious a finding is, the legal basis with its version, and how well the
encoded values are verified (each rule file names its instrument, article and status).
Adding a rule means adding a file; a malformed file is reported (file, key, expectation)
and the others load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from townmap.catalog import Ident, Label, Strict, read_model_file
from townmap.errors import CatalogError

Severity = Literal["prohibited", "restricted", "review"]
Verification = Literal["verified", "partly_verified", "unverified"]
Predicate = Literal["inside", "overlaps", "within_distance", "outside"]
SEVERITY_ORDER: tuple[str, ...] = ("prohibited", "restricted", "review")
VERIFICATION_ORDER: tuple[str, ...] = ("verified", "partly_verified", "unverified")


class Range(Strict):
    """A numeric condition: ``{ ge = 50000 }``, ``{ gt = 2, le = 4 }``."""

    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None

    @model_validator(mode="after")
    def _some_bound(self) -> Range:
        if all(v is None for v in (self.lt, self.le, self.gt, self.ge)):
            raise ValueError("give at least one of lt, le, gt, ge")
        return self


#: attribute -> allowed values, or a numeric range
Conditions = dict[str, list[str | int | float | bool] | Range]


#: ``"own:ID"`` names a consultant's own layer of the workspace (townmap.own_layers)
OWN_PREFIX = "own:"
LayerRef = Annotated[str, Field(pattern=r"^(own:)?[a-z][a-z0-9_]*$", max_length=67)]


class _OnLayer(Strict):
    """A rule side that names a layer: a catalog layer, or ``own:ID``."""

    layer: LayerRef
    #: set from ``own:``: the layer is one of the workspace's own layers
    own: bool = False

    @model_validator(mode="before")
    @classmethod
    def _own_prefix(cls, data):
        if isinstance(data, dict) and str(data.get("layer", "")).startswith(OWN_PREFIX):
            data = {**data, "layer": data["layer"][len(OWN_PREFIX) :], "own": True}
        return data


class Subject(_OnLayer):
    sectors: list[str] = Field(default_factory=list)
    where: Conditions = Field(default_factory=dict)
    #: "new" = proposed or expanded projects (pre-check); "existing" = features on record
    status: Literal["new", "existing", "any"] = "any"


class Constraint(_OnLayer):
    where: Conditions = Field(default_factory=dict)
    predicate: Predicate
    #: for polygons and lines: shared (or outside) area below this is not a finding
    min_overlap_m2: Annotated[float, Field(ge=0)] = 1.0


class DistanceRow(Strict):
    """One row of a distance table; the first row whose conditions hold applies."""

    m: Annotated[float, Field(gt=0, le=100_000)]
    when: Conditions = Field(default_factory=dict)


class LegalBasis(Strict):
    instrument: Label
    article: str
    version: str
    valid_from: date | None = None
    source: str
    note: str | None = None
    #: the instrument that replaced this one: a superseded basis is never "verified"
    superseded_by: str | None = None


class Rule(Strict):
    id: Ident
    title: Label
    subject: Subject
    constraint: Constraint
    distance: list[DistanceRow] = Field(default_factory=list)
    severity: Severity
    #: how serious the same finding is for a feature already on record (e.g. "review"
    #: where the law bans new projects but existing ones need a case-by-case decision)
    severity_existing: Severity | None = None
    verification: Verification
    legal_basis: LegalBasis
    #: values the distance table may use when no feature attribute has them (wind speed…)
    context: dict[str, float] = Field(default_factory=dict)
    note: Label | None = None

    @model_validator(mode="after")
    def _superseded_is_not_verified(self) -> Rule:
        if self.legal_basis.superseded_by and self.verification == "verified":
            raise ValueError(
                f"its legal basis was replaced by {self.legal_basis.superseded_by}: a "
                "superseded rule cannot be verified"
            )
        return self

    @model_validator(mode="after")
    def _distance_fits_predicate(self) -> Rule:
        if self.constraint.predicate == "within_distance" and not self.distance:
            raise ValueError("a within_distance rule needs [[distance]] rows")
        if self.constraint.predicate != "within_distance" and self.distance:
            raise ValueError(f"a {self.constraint.predicate} rule takes no [[distance]] rows")
        return self

    def severity_for(self, status: str) -> str:
        if status == "existing" and self.severity_existing:
            return self.severity_existing
        return self.severity


@dataclass
class RuleSet:
    rules: dict[str, Rule] = field(default_factory=dict)
    errors: list[CatalogError] = field(default_factory=list)
    #: rules on an own layer this workspace does not have (said, not applied)
    skipped: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self.rules


def load_rule_file(path: Path) -> Rule:
    return read_model_file(path, Rule)


def rules_dir() -> Path:
    from townmap.settings import layers_dir

    return layers_dir() / "rules"


def load_rules(folder: Path | None = None, catalog=None) -> RuleSet:
    """Every ``*.toml`` in ``folder``; with a catalog, layers and attributes are checked."""
    folder = Path(folder) if folder is not None else rules_dir()
    if not folder.is_dir():
        raise CatalogError(f"rule folder {folder} does not exist")
    out = RuleSet()
    for path in sorted(folder.glob("*.toml")):
        try:
            rule = load_rule_file(path)
            if catalog is not None:
                missing_own = [
                    part.layer
                    for part in (rule.subject, rule.constraint)
                    if part.own and part.layer not in catalog
                ]
                if missing_own:
                    out.skipped.append(
                        f"{path.name}: applies to own layer {missing_own[0]!r}, which this "
                        "workspace does not have: not checked"
                    )
                    continue
                _check_against(rule, catalog, path)
        except CatalogError as exc:
            out.errors.append(exc)
            continue
        out.rules[rule.id] = rule
    return out


def _check_against(rule: Rule, catalog, path: Path) -> None:
    for part, spec_id, where in (
        ("subject", rule.subject.layer, rule.subject.where),
        ("constraint", rule.constraint.layer, rule.constraint.where),
    ):
        if spec_id not in catalog:
            raise CatalogError(
                f"{path.name}: key '{part}.layer': no layer {spec_id!r} in the catalog"
                " (a workspace's own layer is written own:ID)"
            )
        own = getattr(rule, part).own
        if own != bool(getattr(catalog[spec_id], "own", False)):
            raise CatalogError(
                f"{path.name}: key '{part}.layer': {spec_id!r} is "
                + (
                    "a catalog layer: write it without own:"
                    if own
                    else "an own layer: write own:" + spec_id
                )
            )
        names = {a.name for a in catalog[spec_id].attributes}
        for name in where:
            if name not in names:
                raise CatalogError(
                    f"{path.name}: key '{part}.where.{name}': "
                    f"layer {spec_id!r} has no such attribute"
                )
    if rule.subject.sectors and "sector" not in {
        a.name for a in catalog[rule.subject.layer].attributes
    }:
        raise CatalogError(
            f"{path.name}: key 'subject.sectors': {rule.subject.layer!r} has no sector"
        )
