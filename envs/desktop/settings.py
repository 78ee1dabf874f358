"""Reading and writing the apps' settings files: GSettings' keyfile backend (``GSETTINGS_BACKEND=keyfile``
keeps every GSettings value in ``~/.config/glib-2.0/settings/keyfile``, GVariant text per key) and
plain INI files (PCManFM, libfm)."""

from __future__ import annotations

import ast
import configparser
from typing import Any


def _gvariant(value: Any) -> str:
    """A bool, number or string in GVariant text form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _from_gvariant(text: str, default: Any) -> Any:
    """Parse GVariant text for a setting whose default is ``default`` (its type decides); unreadable
    text gives ``None`` (a setting the app wrote in a form we do not know is a change)."""
    text = text.strip()
    for prefix in ("uint32 ", "int32 ", "uint64 ", "int64 ", "double "):
        text = text.removeprefix(prefix)
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[text]
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        value = ast.literal_eval(text)
        return value if isinstance(value, str) else None
    except (KeyError, ValueError, SyntaxError):
        return None


def _ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  (keys are case-sensitive)
    return parser


def keyfile_settings(settings: dict[str, Any], keys: dict[str, tuple[str, str]]) -> str:
    """The keyfile text that holds ``settings`` (``keys``: setting → (group path, GSettings key))."""
    groups: dict[str, list[str]] = {}
    for name, value in settings.items():
        group, key = keys[name]
        groups.setdefault(group, []).append(f"{key}={_gvariant(value)}")
    return "".join(f"[{group}]\n" + "\n".join(lines) + "\n\n" for group, lines in groups.items())


def read_keyfile_settings(data: bytes, keys: dict[str, tuple[str, str]], defaults: dict[str, Any]) -> dict[str, Any]:
    """The settings ``keys`` names, read from keyfile bytes (missing keys: ``defaults``)."""
    parser = _ini()
    try:
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error:
        return {name: None for name in keys}
    out = {}
    for name, (group, key) in keys.items():
        raw = parser.get(group, key, fallback=None)
        out[name] = defaults[name] if raw is None else _from_gvariant(raw, defaults[name])
    return out


def ini_settings(settings: dict[str, Any], keys: dict[str, tuple[str, str, dict[Any, str]]]) -> str:
    """INI text for ``settings`` (``keys``: setting → (section, key, {value: text}); an empty mapping
    writes the value itself, booleans as 1/0)."""
    sections: dict[str, list[str]] = {}
    for name, value in settings.items():
        section, key, spelling = keys[name]
        text = spelling.get(value) if spelling else (str(int(value)) if isinstance(value, bool) else str(value))
        sections.setdefault(section, []).append(f"{key}={text}")
    return "".join(f"[{section}]\n" + "\n".join(lines) + "\n\n" for section, lines in sections.items())


def read_ini_settings(data: bytes, keys: dict[str, tuple[str, str, dict[Any, str]]], defaults: dict[str, Any]) -> dict[str, Any]:
    """The settings ``keys`` names, read from INI bytes (missing keys: ``defaults``; unknown
    spellings: ``None``)."""
    parser = _ini()
    try:
        parser.read_string(data.decode("utf-8", "replace"))
    except configparser.Error:
        return {name: None for name in keys}
    out: dict[str, Any] = {}
    for name, (section, key, spelling) in keys.items():
        raw = parser.get(section, key, fallback=None)
        if raw is None:
            out[name] = defaults[name]
        elif spelling:
            out[name] = next((value for value, text in spelling.items() if text == raw.strip()), None)
        elif isinstance(defaults[name], bool):
            out[name] = raw.strip() not in ("0", "false", "")
        else:
            out[name] = type(defaults[name])(raw.strip()) if raw.strip().lstrip("-").isdigit() or isinstance(defaults[name], str) else None
    return out
