"""How a setting of ``roadmap search`` is declared: once, as the metadata of its dataclass field.

A field of `roadmap.search.settings.SearchSettings` (or of its `Constraints`) carries a
`Setting` (made by `setting`); everything else about it is read from there:

- `stored_types`: what a study's ``settings.json`` may hold under its key(s) (`read_settings`);
- `binding_keys`: the keys a resume must match (`check_settings`), in the file's order;
- `missing_values`: the value of a key that a study from before the setting lacks;
- `option_keys`: the command options resolved into settings (`resolve_search`);
- `Arg`: the flag of a setting only ``roadmap search`` takes (the command adds it).

Every function takes the settings class, so that a test can show what a new field gets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Arg", "Setting", "setting", "part", "settings_of", "stored_types", "binding_keys", "missing_values"]
__all__ += ["option_keys", "NUMBER"]

META = "roadmap.setting"  # the key of a `Setting` in a field's metadata
PART = "roadmap.setting.part"  # a field whose own fields are settings (`Constraints`)
NUMBER = (int, float)


@dataclass(frozen=True)
class Arg:
    """The flag ``--<field-name>`` of a setting that only ``roadmap search`` takes (default ``None``:
    not given), added to its argument ``group``. A flag shared with other commands (``--seed``,
    ``--fidelity``, ``--device`` ...) is defined once in `roadmap.cli.common` instead."""

    group: str
    help: str
    type: Callable[[str], Any] | None = None
    choices: Callable[[], Sequence[str]] | None = None  # called when the parser is built (registries)
    metavar: str | None = None

    def flag(self, name: str) -> str:
        return "--" + name.replace("_", "-")

    def keywords(self) -> dict[str, Any]:
        """``add_argument``'s keywords."""
        given = {"type": self.type, "metavar": self.metavar, "choices": self.choices and self.choices()}
        return {"default": None, "help": self.help, **{k: v for k, v in given.items() if v is not None}}


@dataclass(frozen=True)
class Setting:
    """One setting: what a study stores of it, whether a resume must match it, which options
    give it. Declared with `setting` (``name`` and ``path`` are filled in by `settings_of`)."""

    stored: dict[str, tuple[type, ...]]  # settings.json key -> JSON types ({}: not stored)
    to_json: Callable[[Any], Any] | None = None  # the stored value; for several keys, a dict of them
    binding: bool = True  # a resume with another value is refused
    missing: dict[str, Any] = dataclasses.field(default_factory=dict)  # a key older studies lack -> its value
    options: tuple[str, ...] = ()
    arg: Arg | None = None
    name: str = ""
    path: tuple[str, ...] = ()  # attributes from the settings object to the value

    def value(self, settings: Any) -> Any:
        for attribute in self.path:
            settings = getattr(settings, attribute)
        return settings

    def json(self, settings: Any) -> dict[str, Any]:
        """Its ``settings.json`` entries for ``settings``."""
        value = self.value(settings)
        value = value if self.to_json is None else self.to_json(value)
        return dict(value) if len(self.stored) > 1 else dict.fromkeys(self.stored, value)

    @property
    def plain(self) -> bool:
        """Given by the option of its name and stored as it is under that name: resolved as the
        option, else the study's value, else the field's default (`resolve_settings`)."""
        return self.stored.keys() == {self.name} and self.options == (self.name,) and self.to_json is None


_FIELD_NAME = ""  # a key or option named as the field, before the field's name is known


def setting(
    *types: type | None,
    key: str = _FIELD_NAME,
    stored: dict[str, tuple[type | None, ...]] | None = None,
    to_json: Callable[[Any], Any] | None = None,
    binding: bool = True,
    missing: dict[str, Any] | None = None,
    options: Sequence[str] | None = None,
    arg: Arg | None = None,
) -> dict[str, Setting]:
    """A field's metadata. ``types``: the JSON types of its ``settings.json`` entry (``None``
    for null; none given: not stored) under ``key`` (default: the field's name), or ``stored``
    for a value kept under several keys (``to_json`` then gives them as a dict). ``options``:
    the command options it is resolved from (default: one, named as the field)."""

    def json_types(given: Sequence[type | None]) -> tuple[type, ...]:
        return tuple(type(None) if t is None else t for t in given)

    keys = stored if stored is not None else ({key: types} if types else {})
    declared = Setting(
        stored={k: json_types(t) for k, t in keys.items()},
        to_json=to_json,
        binding=binding,
        missing=dict(missing or {}),
        options=(_FIELD_NAME,) if options is None else tuple(options),
        arg=arg,
    )
    return {META: declared}


def part() -> dict[str, bool]:
    """The metadata of a field whose type's own fields are settings (its ``default_factory``)."""
    return {PART: True}


def settings_of(cls: type, path: tuple[str, ...] = ()) -> tuple[Setting, ...]:
    """The settings declared on ``cls``'s fields (and its parts'), in field order, with their
    names filled in."""
    found: list[Setting] = []
    for f in dataclasses.fields(cls):
        if f.metadata.get(PART):
            found += settings_of(f.default_factory, (*path, f.name))  # type: ignore[arg-type]  # the part's class
        elif META in f.metadata:
            declared: Setting = f.metadata[META]
            found.append(
                dataclasses.replace(
                    declared,
                    stored={k or f.name: t for k, t in declared.stored.items()},
                    options=tuple(o or f.name for o in declared.options),
                    name=f.name,
                    path=(*path, f.name),
                )
            )
    return tuple(found)


def stored_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Each ``settings.json`` key of ``cls``'s settings and the JSON types it may hold."""
    return {k: t for s in settings_of(cls) for k, t in s.stored.items()}


def binding_keys(cls: type) -> tuple[str, ...]:
    """The keys a resume must match, in the order a study stores them."""
    return tuple(k for s in settings_of(cls) if s.binding for k in s.stored)


def missing_values(cls: type) -> dict[str, Any]:
    """The value of each key a study created before its setting existed lacks."""
    return {k: v for s in settings_of(cls) for k, v in s.missing.items()}


def option_keys(cls: type) -> tuple[str, ...]:
    """The command options resolved into ``cls``, each once."""
    return tuple(dict.fromkeys(o for s in settings_of(cls) for o in s.options))
