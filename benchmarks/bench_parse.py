"""Parser throughput: full `parsers.parse_message` against a bare stdlib parse, same bytes.

    .venv/bin/python benchmarks/bench_parse.py                 # 10,000 messages, 3 repeats
    .venv/bin/python benchmarks/bench_parse.py --count 2000 --repeat 1

Each message of the synthetic corpus (benchmarks/gen_corpus.py, seeded) is built outside
the timed region, then parsed (a) with `email.message_from_bytes(raw, policy=policy.default)`
and (b) with `parsers.parse_message(raw, opts)`. The totals of each pass are summed; with
--repeat N the median pass is reported. Target: (b) takes at most 2x the time of (a).
Not a test: run it by hand (it takes minutes on a small machine).
"""

from __future__ import annotations

import argparse
import email
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import date
from email import policy
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from gen_corpus import message  # noqa: E402

from parsers import ParseOptions, parse_message  # noqa: E402

SMALL = 100_000  # messages below this size carry no image attachment


def one_pass(
    count: int, seed: int, opts: ParseOptions
) -> tuple[float, float, int, Counter[str], dict[str, list[float]]]:
    stdlib_s = full_s = 0.0
    total_bytes = 0
    kinds: Counter[str] = Counter()
    split: dict[str, list[float]] = {"small": [0, 0.0, 0.0], "with images": [0, 0.0, 0.0]}
    for i in range(count):
        raw = message(i, seed)
        total_bytes += len(raw)
        t0 = time.perf_counter()
        email.message_from_bytes(raw, policy=policy.default)
        t1 = time.perf_counter()
        result = parse_message(raw, opts)
        t2 = time.perf_counter()
        stdlib_s += t1 - t0
        full_s += t2 - t1
        kinds[result.kind] += 1
        row = split["small" if len(raw) < SMALL else "with images"]
        row[0] += 1
        row[1] += t1 - t0
        row[2] += t2 - t1
    return stdlib_s, full_s, total_bytes, kinds, split


def main() -> int:
    ap = argparse.ArgumentParser(description="parser throughput benchmark")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20270112)
    ap.add_argument("--no-content", action="store_true",
                    help="ParseOptions(keep_attachment_content=False), as the CLI uses it")
    args = ap.parse_args()
    opts = ParseOptions(today=date(2027, 1, 12), keep_attachment_content=not args.no_content)
    passes = []
    for n in range(args.repeat):
        stdlib_s, full_s, total_bytes, kinds, split = one_pass(args.count, args.seed, opts)
        passes.append((stdlib_s, full_s))
        print(f"pass {n + 1}: stdlib {stdlib_s:.2f} s, parse_message {full_s:.2f} s "
              f"({total_bytes / 1e6:.0f} MB)", flush=True)
    stdlib_med = statistics.median(p[0] for p in passes)
    full_med = statistics.median(p[1] for p in passes)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nmessages: {args.count} ({total_bytes / 1e6:.0f} MB), kinds {dict(kinds)}")
    print(f"stdlib message_from_bytes {args.count / stdlib_med:10.0f} msgs/s  ({stdlib_med:.2f} s)")
    print(f"parsers.parse_message     {args.count / full_med:10.0f} msgs/s  ({full_med:.2f} s)")
    ratio = full_med / stdlib_med
    print(f"ratio full/stdlib         {ratio:10.2f}x  (target <= 2.00x: "
          f"{'met' if ratio <= 2.0 else 'NOT met'})")
    print(f"peak RSS                  {peak_mb:10.0f} MB")
    print("\nlast pass by message size:")
    for label, (cnt, a, b) in split.items():
        if cnt:
            print(f"  {label:<12} {int(cnt):6d} msgs: stdlib {cnt / a:8.0f} msgs/s, "
                  f"parse_message {cnt / b:8.0f} msgs/s, ratio {b / a:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
