"""Every citation of the reference facts resolves: `docs/reference.md §N` names a section that
exists, and no file cites the old out-of-repo REFERENCE.md."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
CITATION = re.compile(r"docs/reference\.md\s+\(?§(\d+)")
OLD = re.compile(r"REFERENCE(\.md)?\s*(§|section)")


def _sources():
    for pattern in ("**/*.py", "**/*.yaml", "**/*.md"):
        for path in ROOT.glob(pattern):
            if ".git" not in path.parts and path != REFERENCE:
                yield path


def test_every_citation_names_an_existing_section():
    sections = set(re.findall(r"^## §(\d+)\.", REFERENCE.read_text(), re.M))
    assert sections == {str(i) for i in range(1, 10)}
    cited = {}
    for path in _sources():
        for number in CITATION.findall(path.read_text(errors="replace")):
            cited.setdefault(number, []).append(path.relative_to(ROOT))
    assert cited, "no citations found: the pattern is wrong"
    missing = {n: files for n, files in cited.items() if n not in sections}
    assert not missing


def test_no_citation_of_the_old_file():
    stale = [
        str(p.relative_to(ROOT))
        for p in _sources()
        if p.name != "test_reference_citations.py" and OLD.search(p.read_text(errors="replace"))
    ]
    assert not stale
