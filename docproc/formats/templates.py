"""invoice2data's templates (SPEC 2.6): the ones it ships and the user's, loaded once per
process and chosen as invoice2data chooses them.

The YAML (or JSON) format, the keyword matching and the field and line extraction are
invoice2data's own (`invoice2data.extract.loader.prepare_template`,
`InvoiceTemplate.matches_input`, `prepare_input` and `extract`): a template its users
already keep works unchanged. What docproc adds is the order: a user's template comes
before every shipped one (it wins over a shipped one that matches the same text, and
replaces a shipped one of the same name), then highest `priority` first, then by name;
and the extraction returns what a template read even when it misses a required field,
so that the rules can say which (`missing_field` naming the template).

The user's templates arrive as (name, text) pairs, whatever they were read from: a
folder (`folder`) or S3 (the pipeline's business: nothing here does I/O but the
shipped templates' own files).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from invoice2data.extract.invoice_template import InvoiceTemplate

SHIPPED = "shipped"
USER = "user"
_SUFFIXES = (".yml", ".yaml", ".json")
# A template is a few kB; a "template" of megabytes is a mistake, not a vendor.
MAX_TEMPLATE_BYTES = 1024 * 1024
# The most user templates read from one place.
MAX_TEMPLATES = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Template:
    """One loaded template: invoice2data's own object, and what docproc shows of it."""

    name: str  # the file name without its suffix: `com.amazon.aws`
    origin: str  # SHIPPED or USER
    priority: int
    keywords: tuple[str, ...]
    exclude_keywords: tuple[str, ...]
    issuer: str
    spec: InvoiceTemplate = field(repr=False)

    def matches(self, text: str) -> bool:
        """invoice2data's test: every keyword in the text, no exclude keyword."""
        return bool(self.spec.matches_input(text))

    def missing_keywords(self, text: str) -> tuple[str, ...]:
        return tuple(k for k in self.keywords if k not in text)

    def excluded_by(self, text: str) -> tuple[str, ...]:
        return tuple(k for k in self.exclude_keywords if k in text)

    def extract(self, text: str) -> dict[str, Any]:
        """The fields invoice2data's extraction gives for `text` (values as it types them:
        str, float, int, datetime, lists of line dicts); may raise on a broken template.

        No file is passed: an `area` field reads the whole text, and no plugin can
        open the PDF again (docproc reads it once, under its limits)."""
        optimized = self.spec.prepare_input(text)
        return dict(self.spec.extract(optimized, "", None))


@dataclass(frozen=True)
class TemplateSet:
    """The templates in the order they are tried, and the user's that could not be loaded
    (`problems`: one sentence each, for `templates list` and the logs)."""

    templates: tuple[Template, ...]
    problems: tuple[str, ...] = ()

    def match(self, text: str) -> Template | None:
        """The template that reads `text`: the first that matches, in this set's order."""
        for template in self.templates:
            if template.matches(text):
                return template
        return None

    def named(self, name: str) -> Template | None:
        wanted = template_name(name)
        return next((t for t in self.templates if t.name == wanted), None)

    def __len__(self) -> int:
        return len(self.templates)


def template_name(file_name: str) -> str:
    """`fr/com.amazon.aws.yml` -> `com.amazon.aws`: the last path segment, no suffix."""
    base = PurePosixPath(file_name.replace("\\", "/")).name
    for suffix in _SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def is_template_file(file_name: str) -> bool:
    """Whether a file (in a folder or under an S3 prefix) is read as a template."""
    return file_name.lower().endswith(_SUFFIXES)


def shipped_folder() -> Path:
    """Where the installed invoice2data keeps its templates."""
    import invoice2data

    return Path(invoice2data.__file__).parent / "extract" / "templates"


@lru_cache(maxsize=1)
def shipped() -> tuple[tuple[Template, ...], tuple[str, ...]]:
    """invoice2data's own templates, read once per process (about 200 files)."""
    return _load(_read_folder(shipped_folder()), SHIPPED)


def load(user: Iterable[tuple[str, str]] = ()) -> TemplateSet:
    """The shipped templates and the user's (name, YAML or JSON text) pairs, in the order
    they are tried; cached per distinct set of pairs (the same folder or prefix, read
    again unchanged, costs nothing)."""
    return _cached(tuple(sorted(user)))


@lru_cache(maxsize=8)
def _cached(user: tuple[tuple[str, str], ...]) -> TemplateSet:
    own, own_problems = _load(user, USER)
    ship, ship_problems = shipped()
    names = {t.name for t in own}
    ordered = sorted(own, key=_order) + sorted((t for t in ship if t.name not in names), key=_order)
    return TemplateSet(tuple(ordered), own_problems + ship_problems)


def _order(template: Template) -> tuple[int, str]:
    return (-template.priority, template.name)


def folder(path: str | os.PathLike[str]) -> tuple[tuple[str, str], ...]:
    """The templates of a folder and its subfolders as (file name, text) pairs."""
    return _read_folder(Path(path))


def _read_folder(root: Path) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*")):
        if len(found) >= MAX_TEMPLATES:
            log.warning("more than %d templates under %s: the rest are ignored", len(found), root)
            break
        if not is_template_file(path.name) or not path.is_file():
            continue
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            log.warning("template %s is larger than %d bytes: ignored", path, MAX_TEMPLATE_BYTES)
            continue
        found.append((path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")))
    return tuple(found)


def _load(
    pairs: Sequence[tuple[str, str]], origin: str
) -> tuple[tuple[Template, ...], tuple[str, ...]]:
    """Each pair through invoice2data's own preparation; one that fails is a problem."""
    loaded: list[Template] = []
    problems: list[str] = []
    for file_name, text in pairs:
        result = _template(file_name, text, origin)
        if isinstance(result, str):
            problems.append(f"{origin} template {file_name}: {result}")
            log.warning("%s template %s is not used: %s", origin, file_name, result)
        else:
            loaded.append(result)
    return tuple(loaded), tuple(problems)


def _template(file_name: str, text: str, origin: str) -> Template | str:
    """A loaded template, or why it cannot be."""
    from invoice2data.extract.invoice_template import InvoiceTemplate
    from invoice2data.extract.loader import prepare_template

    if len(text) > MAX_TEMPLATE_BYTES:
        return f"larger than {MAX_TEMPLATE_BYTES} bytes"
    try:
        if file_name.lower().endswith(".json"):
            raw = json.loads(text)
        else:
            raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except (ValueError, yaml.YAMLError) as exc:
        return f"not valid {'JSON' if file_name.lower().endswith('.json') else 'YAML'} ({exc})"
    if not isinstance(raw, dict):
        return "not a mapping of template keys"
    # invoice2data records the file name (with its suffix) as `template_name`.
    raw["template_name"] = PurePosixPath(file_name).name
    prepared = prepare_template(raw)
    if prepared is None:
        return "it has no `keywords`"
    keywords = prepared["keywords"]
    excludes = prepared["exclude_keywords"]
    if not all(isinstance(k, str) for k in (*keywords, *excludes)) or not keywords:
        return "its `keywords` and `exclude_keywords` must be text"
    if not isinstance(prepared.get("fields", {}), Mapping):
        return "its `fields` must be a mapping"
    # docproc's rules name what is missing (SPEC 2.6): invoice2data must not drop a
    # template's output for it.
    prepared["required_fields"] = []
    try:
        spec = InvoiceTemplate(prepared)
        priority = int(prepared.get("priority", 5))
    except (AssertionError, TypeError, ValueError) as exc:
        return f"invoice2data refuses it ({exc})"
    return Template(
        name=template_name(file_name),
        origin=origin,
        priority=priority,
        keywords=tuple(keywords),
        exclude_keywords=tuple(excludes),
        issuer=str(spec["issuer"]),
        spec=spec,
    )
