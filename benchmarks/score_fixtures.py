"""Print per-field accuracy of the parser over tests/fixtures/parse (the project's fixtures).

    .venv/bin/python benchmarks/score_fixtures.py        # table per field
    .venv/bin/python benchmarks/score_fixtures.py -v     # plus every failed check
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_parse_fixtures import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
