"""Files in the template override directory ([templates] directory) that nothing uses.

A file there replaces the packaged file of the same name; a misspelled name
(`requst.txt.j2`) replaces nothing, and the admin's wording silently never appears.
`intake check` warns about such files, naming the closest packaged file.
"""

from __future__ import annotations

import difflib
from importlib.resources import files
from pathlib import Path

import jinja2
from jinja2 import meta

#: the three files of a template NAME (see mailtemplates.renderer.PARTS)
_PART_SUFFIXES = (".subject.j2", ".txt.j2", ".html.j2")


def packaged_template_files() -> list[str]:
    """The file names of the packaged mail templates and their shared parts."""
    folder = files("mailtemplates").joinpath("templates")
    return sorted(entry.name for entry in folder.iterdir()
                  if entry.is_file() and entry.name.endswith(".j2"))


def unused_override_files(directory: Path) -> list[str]:
    """One warning per file in `directory` that replaces no packaged file, belongs to no
    complete new template (NAME.subject.j2, NAME.txt.j2, NAME.html.j2) and is not included
    by another template. A missing directory gives none (the renderer reports it)."""
    if not directory.is_dir():
        return []
    packaged = packaged_template_files()
    present = sorted(p.name for p in directory.iterdir()
                     if p.is_file() and not p.name.startswith("."))
    used = set(packaged)
    for name in present:  # a new template needs all three parts
        for suffix in _PART_SUFFIXES:
            stem = name.removesuffix(suffix)
            if stem != name and all(stem + s in present for s in _PART_SUFFIXES):
                used.add(name)
    used |= _referenced(directory, present)
    warnings = []
    for name in present:
        if name in used:
            continue
        match = difflib.get_close_matches(name, packaged, n=1, cutoff=0.6)
        hint = (f"did you mean {match[0]}?" if match
                else f"the packaged names are {', '.join(packaged)}")
        warnings.append(f"{directory / name}: matches no mail template file, so it is not "
                        f"used; {hint}")
    return warnings


def one_sided_overrides(directory: Path) -> list[str]:
    """One warning per override of a mail's text part without its HTML part, or the other
    way round: Outlook shows the HTML part, other programs and phones the text part, so the
    admin's wording would reach only some colleagues."""
    if not directory.is_dir():
        return []
    packaged = set(packaged_template_files())
    present = {p.name for p in directory.iterdir() if p.is_file()}
    warnings = []
    for name in sorted(present):
        for own, other, shown in ((".txt.j2", ".html.j2", "Outlook shows the HTML part"),
                                  (".html.j2", ".txt.j2", "phones and some programs show the "
                                                          "text part")):
            twin = name.removesuffix(own) + other
            if name.endswith(own) and twin in packaged and twin not in present:
                warnings.append(f"{directory / name}: replaces the packaged {name} but not "
                                f"{twin}; {shown}, which keeps the packaged wording: copy "
                                f"{twin} there as well and change it alike")
    return warnings


def _referenced(directory: Path, names: list[str]) -> set[str]:
    """Names included, imported or extended by the override files (a shared part of the
    admin's own)."""
    env = jinja2.Environment()
    found: set[str] = set()
    for name in names:
        try:
            source = (directory / name).read_text(encoding="utf-8")
            found.update(ref for ref in meta.find_referenced_templates(env.parse(source))
                         if ref is not None)
        except (OSError, UnicodeDecodeError, jinja2.TemplateSyntaxError):
            continue  # not readable as a template: reported when it is rendered, if used
    return found
