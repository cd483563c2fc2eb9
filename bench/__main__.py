"""``python -m bench [--quick]``: the benchmark suite (see bench/README.md).

- ``python -m bench`` — the full suite (about 15 minutes on 2 cores), table, CSV and chart;
- ``python -m bench --quick`` — four small instances (under 2 minutes);
- ``python -m bench network`` — 50 sites x M solved in parallel (``--dask ADDRESS`` for a cluster);
- ``python -m bench replan`` — per seeded event on M and L: time to a re-plan's first answer and
  to its final one, untouched appointments moved, placed against a 60 s re-plan
  (``--reference-limit``, ``--scratch``);
- ``python -m bench serve`` — loopback load on reading a published schedule, SQLite and
  PostgreSQL (``--seconds``, ``--connections``);
- ``python -m bench feeds`` — loopback load on one patient's calendar feed (200 and 304) against a
  bare FastAPI endpoint answering the same bytes, SQLite and PostgreSQL;
- ``python -m bench whatif`` — the demo's base + 2 presets with headroom and bottleneck, the
  method before and today's in one run (``--sweep``: a 12-variant sweep on M, 1 vs 2 processes
  vs Dask);
- ``python -m bench network-whatif`` — 50 sites x M, where one more chair or nurse helps most
  (``--processes N`` or ``--cluster ADDRESS``);
- ``python -m bench simulate`` — replays per second of the demo and an M week (``--runs``),
  against a Python loop per run;
- ``python -m bench abuse`` — a signed-in request's p50 and the server's peak memory while wrong
  sign-ins and a 200 MiB body arrive, per source tree (``--tree before=PATH --tree after=PATH``);
- ``python -m bench live`` — the p50 and p95 of a direct edit of the demo's live schedule
  through the API (``--edits``), SQLite and PostgreSQL;
- ``python -m bench slots`` — the p50, p95 and worst time of finding a patient's next free slots
  on the demo week and an M week, as planned and with one of their sessions cancelled;
- ``python -m bench weekly [--baseline COMMIT]`` — the suite's M and L weeks solved by an older
  commit's solver (default round one, 3f72a8a) and by this tree's, side by side (``--only``,
  ``--time-limit``, default 60 s);
- ``python -m bench generate DIR`` — write the suite's scenarios as YAML.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml
from rich.console import Console

from bench.generate import generate, suite
from bench.run import OUT, Row, chart, run_all, table, write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", default="suite",
                        choices=["suite", "network", "replan", "generate", "whatif", "serve",
                                 "feeds", "network-whatif", "simulate", "abuse", "live",
                                 "slots", "weekly"])
    parser.add_argument("dir", nargs="?", type=Path, help="output folder for generate")
    parser.add_argument("--quick", action="store_true", help="the small, fast subset")
    parser.add_argument("--workers", type=int, default=2, help="CP-SAT workers per solve")
    parser.add_argument("--lns", type=float, default=0.0,
                        help="suite: share of the placement time for large-neighbourhood search")
    parser.add_argument("--mip", type=float, default=0.0,
                        help="suite: seconds for the relaxation in whole sessions (a tighter "
                             "bound; per person where the per-person LP runs)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="suite: just these instances (e.g. M-staff-1.15 L-room-1.00)")
    parser.add_argument("--sites", type=int, default=50, help="network: how many sites")
    parser.add_argument("--size", default="M", help="network: size of each site")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per solve")
    parser.add_argument("--dask", help="network: address of a Dask scheduler")
    parser.add_argument("--processes", type=int, default=None,
                        help="network-whatif: local processes (default: every core)")
    parser.add_argument("--cluster", help="network-whatif: address of a Dask scheduler")
    parser.add_argument("--events", type=int, default=20, help="replan: events per size")
    parser.add_argument("--reference-limit", type=float, default=60.0,
                        help="replan: seconds of the reference re-plan (a shorter one for a "
                             "quick run)")
    parser.add_argument("--sizes", nargs="*", choices=["M", "L"], default=None,
                        help="replan: just these sizes")
    parser.add_argument("--scratch", action="store_true",
                        help="replan: also count what a fresh solve of each changed week moves")
    parser.add_argument("--edits", type=int, default=20, help="live: direct edits per database")
    parser.add_argument("--runs", type=int, default=10_000, help="simulate: replays per week")
    parser.add_argument("--sweep", action="store_true",
                        help="whatif: the 12-variant sweep on M instead of the demo")
    parser.add_argument("--only-threads", action="store_true",
                        help="whatif: only today's run on the page's 2 threads (not the "
                             "method before, not processes): for a loop of measurements")
    parser.add_argument("--baseline", metavar="COMMIT", default=None,
                        help="weekly: the commit whose solver runs beside this tree's "
                             "(default 3f72a8a, round one)")
    parser.add_argument("--out", type=Path, default=OUT, help="where CSV and charts go")
    parser.add_argument("--seconds", type=float, default=30,
                        help="serve, feeds: load duration (per run)")
    parser.add_argument("--connections", type=int, default=32,
                        help="serve, feeds: requests in flight")
    parser.add_argument("--tree", action="append", metavar="[LABEL=]PATH",
                        help="abuse: a source tree to serve from (repeat; default this one)")
    parser.add_argument("--sign-ins", type=int, default=60,
                        help="abuse: clients posting wrong passwords at once")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="abuse: seconds a sign-in client waits after a 429 or 503")
    parser.add_argument("--body-mib", type=int, default=200,
                        help="abuse: MiB of the unauthenticated body")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    console = Console(width=170)
    if args.what == "generate":
        folder = args.dir or OUT / "instances"
        folder.mkdir(parents=True, exist_ok=True)
        for spec, _ in suite(args.quick):
            (folder / f"{spec.name}.yaml").write_text(
                yaml.safe_dump(generate(spec), sort_keys=False), encoding="utf-8")
        console.print(f"wrote {len(suite(args.quick))} scenarios to {folder}")
        return 0
    if args.what == "network":
        from bench.network import network

        return network(args, console)
    if args.what == "serve":
        from bench.serve import serve_bench

        return serve_bench(args, console)
    if args.what == "feeds":
        from bench.feeds import feeds_bench

        return feeds_bench(args, console)
    if args.what == "whatif":
        from bench.whatif import whatif_bench

        return whatif_bench(args, console)
    if args.what == "network-whatif":
        from bench.network_whatif import network_whatif

        return network_whatif(args, console)
    if args.what == "simulate":
        from bench.simulate import simulate_bench

        return simulate_bench(args, console)
    if args.what == "abuse":
        from bench.abuse import abuse_bench

        return abuse_bench(args, console)
    if args.what == "live":
        from bench.live import live_bench

        return live_bench(args, console)
    if args.what == "slots":
        from bench.slots import slots_bench

        return slots_bench(args, console)
    if args.what == "weekly":
        from bench.baseline import weekly_bench

        return weekly_bench(args, console)
    if args.what == "replan":
        from bench.replan import replan_bench

        return replan_bench(args, console)
    cases = suite(args.quick)
    unknown = sorted(set(args.only or ()) - {spec.name for spec, _ in suite()})
    if unknown:  # exit 2 with the names, not an IndexError from an empty table
        parser.error(f"--only: no instance named {', '.join(unknown)} (the suite's: "
                     f"{', '.join(spec.name for spec, _ in suite())})")
    if args.only:
        cases = [(spec, limit) for spec, limit in cases if spec.name in args.only]
    if args.time_limit is not None:
        cases = [(spec, args.time_limit) for spec, _ in cases]

    def progress(row: Row) -> None:
        console.print(f"  done {row.instance}", style="dim")

    rows = run_all(cases, args.workers, progress, args.lns, args.mip)
    console.print(table(rows))
    name = "quick" if args.quick else "suite"
    csv_path = write_csv(rows, args.out / f"{name}.csv")
    png = chart(rows, args.out / f"{name}.png")
    console.print(f"wrote {csv_path} and {png}")
    return 0 if all(r.valid for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
