"""Print the parser's scores on the public corpus in the repository (tests/corpus).

    .venv/bin/python benchmarks/score_corpus.py        # tables
    .venv/bin/python benchmarks/score_corpus.py -v     # plus every failed check

Reply-text accuracy per source and kind accuracy on the auto-reply and bounce entries; the
logic and the expectations' meaning live in tests/test_parse_corpus.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_parse_corpus import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
