"""Build time and peak memory of the van road network, side by side with plain osmnx.

Each case runs in a fresh Python process so peak RSS (``ru_maxrss``) is its own:

- ``vanplan-build``: :func:`geo.network.load_osm_file` on the .osm.pbf (streaming pyosmium reader,
  van filter, simplification, largest strongly connected component, speeds);
- ``vanplan-cache``: :func:`geo.network.load` of the same network from the npz cache;
- ``osmnx-xml``: ``ox.graph_from_xml`` on the same data converted to .osm XML with pyosmium
  (osmnx cannot read .pbf and keeps every highway, footways included), then simplified, then the
  largest strongly connected component (conversion time reported separately).

Usage: ``python benchmarks/network_build.py [--pbf PATH] [--tracemalloc] [--skip-osmnx]``.
The extract defaults to ``$VANPLAN_SHARED_DIR/data/osm/heidelberg.osm.pbf`` (../shared beside the
project). Targets: build <= 15 s, cache load <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PBF = (
    Path(os.environ.get("VANPLAN_SHARED_DIR", ROOT.parent / "shared"))
    / "data"
    / "osm"
    / "heidelberg.osm.pbf"
)


def _rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM; ru_maxrss survives exec on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _case(name: str, pbf: Path, work: Path) -> tuple[Any, dict[str, Any]]:
    """Run one case once; returns the graph and extra figures."""
    if name == "vanplan-build":
        from geo.network import load_osm_file

        network = load_osm_file(pbf)
        return network.graph, {}
    if name == "vanplan-cache":
        from geo.network import load

        return load(work / "heidelberg.vanplan-net.npz").graph, {}
    if name == "osmnx-xml":
        import osmnx as ox

        xml = work / "heidelberg.osm"
        graph = ox.graph_from_xml(xml, simplify=True, retain_all=True)
        graph = ox.truncate.largest_component(graph, strongly=True)
        return graph, {}
    raise ValueError(f"unknown case {name}")


def child(name: str, pbf: Path, work: Path, use_tracemalloc: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    warnings.simplefilter("ignore")
    import osmnx  # noqa: F401  (imports are not part of the timing)

    import geo.network  # noqa: F401

    base_rss = _rss_mb()
    started = time.perf_counter()
    graph, extra = _case(name, pbf, work)
    seconds = time.perf_counter() - started
    result = {
        "case": name,
        "seconds": seconds,
        "peak_rss_mb": _rss_mb(),
        "rss_growth_mb": _rss_mb() - base_rss,
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        **extra,
    }
    if use_tracemalloc:
        del graph
        tracemalloc.start()
        _case(name, pbf, work)
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def prepare(pbf: Path, work: Path, with_osmnx: bool) -> dict[str, float]:
    """Write the cache file and (for osmnx) the .osm XML conversion; returns their timings."""
    sys.path.insert(0, str(ROOT))
    import osmium

    from geo.network import load_osm_file, save

    figures: dict[str, float] = {}
    save(load_osm_file(pbf), work / "heidelberg.vanplan-net.npz")
    if with_osmnx:
        started = time.perf_counter()
        with osmium.SimpleWriter(str(work / "heidelberg.osm")) as writer:
            for obj in osmium.FileProcessor(str(pbf)):
                writer.add(obj)
        figures["pbf_to_xml_seconds"] = time.perf_counter() - started
        figures["xml_mb"] = (work / "heidelberg.osm").stat().st_size / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pbf", type=Path, default=DEFAULT_PBF)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations")
    parser.add_argument("--skip-osmnx", action="store_true", help="skip the slow osmnx XML case")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (best time shown)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.pbf, args.work, args.tracemalloc)))
        return
    if not args.pbf.is_file():
        sys.exit(f"extract not found: {args.pbf} (set VANPLAN_SHARED_DIR or pass --pbf)")
    cases = ["vanplan-build", "vanplan-cache"] + ([] if args.skip_osmnx else ["osmnx-xml"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prep = prepare(args.pbf, work, not args.skip_osmnx)
        print(f"extract: {args.pbf} ({args.pbf.stat().st_size / 2**20:.1f} MB)")
        if prep:
            print(
                f"osmnx input: .osm XML {prep['xml_mb']:.0f} MB, "
                f"converted with pyosmium in {prep['pbf_to_xml_seconds']:.1f} s"
            )
        header = f"{'case':<15}{'seconds':>9}{'peak RSS MB':>13}{'RSS growth MB':>15}"
        header += f"{'nodes':>8}{'edges':>8}"
        if args.tracemalloc:
            header += f"{'tracemalloc MB':>16}"
        print(header)
        for case in cases:
            runs = []
            for _ in range(args.repeat):
                command = [sys.executable, __file__, "--child", case, "--pbf", str(args.pbf)]
                command += ["--work", str(work)] + (["--tracemalloc"] if args.tracemalloc else [])
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            best = min(runs, key=lambda r: r["seconds"])
            line = f"{case:<15}{best['seconds']:>9.2f}{best['peak_rss_mb']:>13.0f}"
            line += f"{best['rss_growth_mb']:>15.0f}{best['nodes']:>8}{best['edges']:>8}"
            if args.tracemalloc:
                line += f"{best['tracemalloc_peak_mb']:>16.0f}"
            print(line, flush=True)
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
