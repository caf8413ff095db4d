"""benchmarks/jobs.py: the week mix and the command line (the measurements need workers and are
run by hand; their figures are in the README)."""

from __future__ import annotations

from benchmarks.jobs import SIZES, build_parser, week_mix


def test_the_mix_takes_the_sizes_in_turn_with_the_time_limit() -> None:
    requests = week_mix(5, time_limit=2.5)
    assert len(requests) == 5
    sizes = [sum(1 for v in r.visits if v.id.startswith("client-")) for r in requests]
    assert [r.options.time_limit_seconds for r in requests] == [2.5] * 5
    # more clients, more client visits: the sizes of the mix show in the problems
    assert sizes[0] < sizes[1] < sizes[2] and sizes[3] == sizes[0]
    assert len(SIZES) == 3
    assert requests[0] != requests[3]  # same size, another seed


def test_the_parser_defaults_measure_one_two_and_four_workers() -> None:
    args = build_parser().parse_args([])
    assert args.workers == "1,2,4"
    assert args.kills >= 1 and args.jobs >= 1
