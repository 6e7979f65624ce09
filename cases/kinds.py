"""Step kinds and the recording checklist, read from a YAML file an agency edits.

The packaged `checklist.yaml` is the default; a `checklist.yaml` in the data folder,
or a file named on the command line, replaces it. Besides how each kind is recorded it
says what the officer must say in it (required statements, from a catalogue of named
statements with their phrasings), which written records it needs, and which expressions
are uncivil (language rules); `cases.statements` and `cases.language` apply them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import yaml

from cases.errors import ConfigFileError

Requirement = Literal["full", "key_moments", "optional"]
REQUIREMENTS: tuple[Requirement, ...] = ("full", "key_moments", "optional")
Where = Literal["start", "anywhere"]
WHERE: tuple[Where, ...] = ("start", "anywhere")
WRITTEN_KINDS = ("notice", "record", "decision", "receipt")
# Recognition garbles near-homophones: statements lean towards recall; uncivil words,
# short and easily confused with innocent ones, need an (almost) exact hearing.
STATEMENT_MIN_SCORE = 0.75
LANGUAGE_MIN_SCORE = 0.9
START_WITHIN_S = 120.0
DEFAULT_CHECKLIST = Path(__file__).with_name("checklist.yaml")
DEFAULT_METADATA = ("case_no", "capture_time", "place", "collector", "proves")


@dataclass(frozen=True)
class StatementRule:
    """A statement the officer must make: its phrasings (any counts), and where."""

    key: str
    name: str
    phrases: tuple[str, ...]
    where: Where = "anywhere"
    within_s: float = START_WITHIN_S  # "start": said this soon after the step is recorded
    min_score: float = STATEMENT_MIN_SCORE


@dataclass(frozen=True)
class LanguageRule:
    """A category of forbidden or uncivil expressions (insult, threat ...)."""

    key: str
    name: str
    phrases: tuple[str, ...]
    min_score: float = LANGUAGE_MIN_SCORE


@dataclass(frozen=True)
class KindRule:
    kind: str
    name: str
    requirement: Requirement
    aliases: tuple[str, ...] = ()
    statements: tuple[StatementRule, ...] = ()
    written_records: tuple[str, ...] = ()  # kinds of written record the step needs


@dataclass(frozen=True)
class Checklist:
    kinds: dict[str, KindRule]
    drift_tolerance_s: float = 5.0
    required_metadata: tuple[str, ...] = DEFAULT_METADATA
    source: str = "<memory>"
    language_rules: tuple[LanguageRule, ...] = ()
    # A missing written record is always listed; "yellow" also turns the step yellow.
    written_record_light: Literal["none", "yellow"] = "none"
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
    unknown = set(data) - {
        "version",
        "drift_tolerance_s",
        "required_metadata",
        "kinds",
        "statements",
        "language_rules",
        "written_record_light",
    }
    if unknown:
        raise ConfigFileError(f"{source}: unknown keys {sorted(unknown)}")
    raw_kinds = data.get("kinds")
    if not isinstance(raw_kinds, dict) or not raw_kinds:
        raise ConfigFileError(f"{source}: `kinds` must map each step kind to its rule")
    catalogue = _statements(data.get("statements"), source)
    kinds: dict[str, KindRule] = {}
    for kind, spec in raw_kinds.items():
        if not isinstance(spec, dict):
            raise ConfigFileError(f"{source}: kind {kind!r} needs name and requirement")
        extra = set(spec) - {"name", "requirement", "aliases", "statements", "written_records"}
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
            statements=_kind_statements(spec.get("statements"), catalogue, str(kind), source),
            written_records=_written(spec.get("written_records"), str(kind), source),
        )
    light = data.get("written_record_light", "none")
    if light not in ("none", "yellow"):
        raise ConfigFileError(f"{source}: written_record_light must be none or yellow")
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
        language_rules=_language_rules(data.get("language_rules"), source),
        written_record_light=light,
    )


def _strings(value: Any, what: str, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigFileError(f"{source}: {what} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _score(value: Any, default: float, what: str, source: str) -> float:
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise ConfigFileError(f"{source}: {what} min_score must be a number in (0, 1]")
    return float(value)


def _phrases(key: str, spec: dict[str, Any], what: str, source: str) -> tuple[str, ...]:
    # Chinese and English phrasings are listed apart for the editor's sake; the matcher
    # tells them apart by script, so a phrase may mix both.
    phrases = _strings(spec.get("zh"), f"{what} {key!r} zh", source) + _strings(
        spec.get("en"), f"{what} {key!r} en", source
    )
    if not phrases:
        raise ConfigFileError(f"{source}: {what} {key!r} needs at least one phrase (zh or en)")
    return phrases


def _statements(raw: Any, source: str) -> dict[str, StatementRule]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: `statements` must map each statement to its phrasings")
    out: dict[str, StatementRule] = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict):
            raise ConfigFileError(f"{source}: statement {key!r} needs name and phrases")
        extra = set(spec) - {"name", "where", "within_s", "min_score", "zh", "en"}
        if extra:
            raise ConfigFileError(f"{source}: statement {key!r} has unknown keys {sorted(extra)}")
        where = spec.get("where", "anywhere")
        if where not in WHERE:
            raise ConfigFileError(f"{source}: statement {key!r} where must be one of {WHERE}")
        within = spec.get("within_s", START_WITHIN_S)
        if not isinstance(within, int | float) or isinstance(within, bool) or within <= 0:
            raise ConfigFileError(f"{source}: statement {key!r} within_s must be a number > 0")
        out[str(key)] = StatementRule(
            key=str(key),
            name=str(spec.get("name") or str(key).replace("_", " ")),
            phrases=_phrases(str(key), spec, "statement", source),
            where=cast(Where, where),
            within_s=float(within),
            min_score=_score(spec.get("min_score"), STATEMENT_MIN_SCORE, str(key), source),
        )
    return out


def _kind_statements(
    raw: Any, catalogue: dict[str, StatementRule], kind: str, source: str
) -> tuple[StatementRule, ...]:
    keys = _strings(raw, f"kind {kind!r} statements", source)
    unknown = [k for k in keys if k not in catalogue]
    if unknown:
        known = ", ".join(sorted(catalogue)) or "none defined"
        raise ConfigFileError(
            f"{source}: kind {kind!r} requires unknown statements {unknown}; known: {known}"
        )
    return tuple(catalogue[k] for k in dict.fromkeys(keys))


def _written(raw: Any, kind: str, source: str) -> tuple[str, ...]:
    kinds = _strings(raw, f"kind {kind!r} written_records", source)
    wrong = [k for k in kinds if k not in WRITTEN_KINDS]
    if wrong:
        raise ConfigFileError(
            f"{source}: kind {kind!r} written_records {wrong} not among {WRITTEN_KINDS}"
        )
    return tuple(dict.fromkeys(kinds))


def _language_rules(raw: Any, source: str) -> tuple[LanguageRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise ConfigFileError(f"{source}: `language_rules` must map each category to phrases")
    out: list[LanguageRule] = []
    for key, spec in raw.items():
        if not isinstance(spec, dict):
            raise ConfigFileError(f"{source}: language rule {key!r} needs phrases")
        extra = set(spec) - {"name", "min_score", "zh", "en"}
        if extra:
            raise ConfigFileError(
                f"{source}: language rule {key!r} has unknown keys {sorted(extra)}"
            )
        out.append(
            LanguageRule(
                key=str(key),
                name=str(spec.get("name") or key),
                phrases=_phrases(str(key), spec, "language rule", source),
                min_score=_score(spec.get("min_score"), LANGUAGE_MIN_SCORE, str(key), source),
            )
        )
    return tuple(out)


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
