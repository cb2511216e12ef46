"""Name claims under a flood (issue 29): N visitors each claim a new name on one server (cnnkit.classroom.use_name,
the call the sidebar makes), with some saved runs in the class, then one more claims a look-alike.

    .venv/bin/python benchmarks/bench_claims.py --claims 2000 --runs 20 --json

Reports the wall time of all the claims, how many were claimed and refused (past names.MAX_CLAIMS), the slowest
single claim, and that a look-alike of a claimed name is refused. Before issue 29, 2,000 claims took 112 s (each
rewrote a names.json that kept growing, with no cap).

Measured on the 2-core dev box shared with other sessions (load average 10), --claims 2000 --runs 20: 500
claimed, 1,500 refused at the cap, 7.3 s in all, slowest claim 0.07 s; the look-alike "Аnna" refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=20, help="saved runs in the class (each new name is checked "
                                                             "against their owners)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(CNNKIT_CHECKPOINT_DIR=f"{folder}/runs", CNNKIT_DATA_DIR=f"{folder}/data",
                          CNNLAB_CONFIG=f"{folder}/cnnlab.toml")
        Path(folder, "cnnlab.toml").write_text("")
        import cnnkit.labs  # noqa: F401  registers runs, labs, datasets as student data
        import cnnkit.lessons  # noqa: F401  registers predictions
        from cnnkit.classroom import NotAllowed, names, use_name
        from cnnkit.store import RunWriter

        for index in range(args.runs):
            with RunWriter.create({"epochs": 1}, "cnn3_bn", "shapes", owner=f"cli student {index}") as writer:
                writer.finish("done", test_accuracy=0.5)
        claimed = refused = 0
        slowest = 0.0
        start = time.perf_counter()
        for index in range(args.claims):
            one = time.perf_counter()
            try:
                use_name(f"Student {index}")
                claimed += 1
            except NotAllowed:
                refused += 1
            slowest = max(slowest, time.perf_counter() - one)
        total = time.perf_counter() - start
        names.release_name("Student 0")  # room for one more
        use_name("Anna")
        try:
            use_name("\u0410nna")
            look_alike = "claimed (wrong)"
        except NotAllowed as error:
            look_alike = f"refused: {error}"
    report = {"claims": args.claims, "runs": args.runs, "claimed": claimed, "refused": refused,
              "max_claims": names.MAX_CLAIMS, "total_s": round(total, 2), "slowest_claim_s": round(slowest, 4),
              "look_alike": look_alike, "load_average": os.getloadavg()[0]}
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
