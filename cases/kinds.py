"""Step kinds and the recording checklist, read from a YAML file an agency edits.

The packaged `checklist.yaml` is the default; a `checklist.yaml` in the data folder,
or a file named on the command line, replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from cases.errors import ConfigFileError

Requirement = Literal["full", "key_moments", "optional"]
REQUIREMENTS: tuple[Requirement, ...] = ("full", "key_moments", "optional")
DEFAULT_CHECKLIST = Path(__file__).with_name("checklist.yaml")
DEFAULT_METADATA = ("case_no", "capture_time", "place", "collector", "proves")


@dataclass(frozen=True)
class KindRule:
    kind: str
    name: str
    requirement: Requirement
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checklist:
    kinds: dict[str, KindRule]
    drift_tolerance_s: float = 5.0
    required_metadata: tuple[str, ...] = DEFAULT_METADATA
    source: str = "<memory>"
    _lookup: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        lookup: dict[str, str] = {}
        for rule in self.kinds.values():
            for name in (rule.kind, *rule.aliases):
                key = _norm(name)
                if lookup.get(key, rule.kind) != rule.kind:
                    raise ConfigFileError(
                        f"{self.source}: {name!r} names both {lookup[key]} and {rule.kind}"
                    )
                lookup[key] = rule.kind
        self._lookup.update(lookup)

    def resolve(self, kind_or_alias: str) -> str:
        """The canonical kind for a kind or one of its aliases."""
        kind = self._lookup.get(_norm(kind_or_alias))
        if kind is None:
            known = ", ".join(sorted(self.kinds))
            raise ConfigFileError(f"unknown step kind {kind_or_alias!r}; known kinds: {known}")
        return kind

    def rule(self, kind: str) -> KindRule:
        """The rule for `kind`; a kind unknown to this checklist is treated as optional."""
        canonical = self._lookup.get(_norm(kind))
        if canonical is None:
            return KindRule(kind, kind.replace("_", " "), "optional")
        return self.kinds[canonical]


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_").replace("/", "_")


def parse_checklist(data: Any, source: str = "<memory>") -> Checklist:
    if not isinstance(data, dict):
        raise ConfigFileError(f"{source}: expected a mapping at the top level")
    unknown = set(data) - {"version", "drift_tolerance_s", "required_metadata", "kinds"}
    if unknown:
        raise ConfigFileError(f"{source}: unknown keys {sorted(unknown)}")
    raw_kinds = data.get("kinds")
    if not isinstance(raw_kinds, dict) or not raw_kinds:
        raise ConfigFileError(f"{source}: `kinds` must map each step kind to its rule")
    kinds: dict[str, KindRule] = {}
    for kind, spec in raw_kinds.items():
        if not isinstance(spec, dict):
            raise ConfigFileError(f"{source}: kind {kind!r} needs name and requirement")
        extra = set(spec) - {"name", "requirement", "aliases"}
        if extra:
            raise ConfigFileError(f"{source}: kind {kind!r} has unknown keys {sorted(extra)}")
        requirement = spec.get("requirement")
        if requirement not in REQUIREMENTS:
            raise ConfigFileError(
                f"{source}: kind {kind!r} requirement must be one of {REQUIREMENTS}, "
                f"not {requirement!r}"
            )
        aliases = spec.get("aliases") or []
        if not isinstance(aliases, list):
            raise ConfigFileError(f"{source}: kind {kind!r} aliases must be a list")
        kinds[str(kind)] = KindRule(
            kind=str(kind),
            name=str(spec.get("name") or str(kind).replace("_", " ")),
            requirement=cast(Requirement, requirement),
            aliases=tuple(str(a) for a in aliases),
        )
    tolerance = data.get("drift_tolerance_s", 5)
    if not isinstance(tolerance, int | float) or isinstance(tolerance, bool) or tolerance < 0:
        raise ConfigFileError(f"{source}: drift_tolerance_s must be a number >= 0")
    metadata = data.get("required_metadata", list(DEFAULT_METADATA))
    if not isinstance(metadata, list):
        raise ConfigFileError(f"{source}: required_metadata must be a list")
    return Checklist(
        kinds=kinds,
        drift_tolerance_s=float(tolerance),
        required_metadata=tuple(str(m) for m in metadata),
        source=source,
    )


def load_checklist(path: Path | None = None, data_dir: Path | None = None) -> Checklist:
    """The checklist at `path`, else `data_dir/checklist.yaml`, else the packaged default."""
    if path is None and data_dir is not None and (data_dir / "checklist.yaml").is_file():
        path = data_dir / "checklist.yaml"
    path = path or DEFAULT_CHECKLIST
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigFileError(f"cannot read checklist {path}: {exc}") from exc
    return parse_checklist(data, str(path))
