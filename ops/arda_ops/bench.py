"""``make bench``: the figures the issues ask for, measured rather than asserted.

- cold import time of each handler from the built artifacts (``.aws-sam/build``), in fresh ``python -S``
  processes that see only the function and the layer (which ships boto3), paired and interleaved with
  ``import boto3`` in the same rounds; as ``sam build`` ships it (compiled, ``unchecked-hash``) and without ``.pyc``;
- the built artifacts' sizes (on disk and zipped, as Lambda receives them);
- API calls and wall time per lifecycle operation of each custom resource, counted by the rehearsal (run in a
  fresh process) against zero-latency emulators (our own added time: what an operator waits for in the console);
- the NS delegation's polling path (Route 53 answering PENDING for 0, 1, 2 looks; ``arda_ops.bench_ns_pending``),
  in a fresh process;
- the drift check's time for the 4 active partitions and for 50 synthetic partitions, measured in a child process
  while the loopback world serves from this one.

Run after ``make build``. Nothing here sleeps; every figure comes from a measurement of this machine.
Ratios are measured paired (each round's handler against the same round's ``import boto3``), never across runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD = REPO_ROOT / ".aws-sam" / "build"
FUNCTIONS = {
    "postmark_domain": "PostmarkDomainFunction",
    "postmark_domain_verification": "PostmarkDomainVerificationFunction",
    "ns_delegation": "NsDelegationFunction",
    "postmark_dkim": "PostmarkDkimFunction",
}
_TIMER = "import time, sys; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
HANDLER_IMPORT = "import app, boto3"
#: The cold-start goal: a handler's cold import at most this many times a bare ``import boto3`` (printed, not asserted).
IMPORT_RATIO_GOAL = 1.15


def _env(pythonpath: list[Path]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "POWERTOOLS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath),
        PYTHONDONTWRITEBYTECODE="1",  # never let a measurement compile the tree it measures
        AWS_REGION="us-east-1",  # as in Lambda: a client built at import would need one
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 - a made-up key; nothing is called
        AWS_EC2_METADATA_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="bench",
    )
    return env


def _one_import(stmt: str, pythonpath: list[Path]) -> float:
    """Seconds of ``stmt`` in one fresh interpreter that sees only ``pythonpath`` and the standard library
    (``-S``: no site-packages, as in Lambda, where the function, the layer and the runtime's boto3 are all)."""
    out = subprocess.run(
        [sys.executable, "-S", "-c", _TIMER.format(stmt=stmt)],
        env=_env(pythonpath),
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return float(out.stdout.strip().splitlines()[-1])


def _paired(configs: dict[str, tuple[str, list[Path]]], runs: int) -> dict[str, list[float]]:
    """``runs`` rounds; in each, every config once, in an order rotated from round to round, so that a slower
    stretch of a busy machine weighs on every config alike and each round's figures can be compared."""
    names = list(configs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            stmt, path = configs[name]
            samples[name].append(_one_import(stmt, path))
    return samples


def _strip_pyc(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def _size(path: Path) -> tuple[int, int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    raw = sum(p.stat().st_size for p in files)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for p in files:
            archive.write(p, p.relative_to(path))
    return raw, len(files), len(buffer.getvalue())


def measure_imports(runs: int) -> dict[str, Any]:
    """Cold imports, paired and interleaved: each round measures ``import boto3`` and every handler (compiled
    as ``sam build`` ships it, and with every ``.pyc`` removed) in fresh, isolated processes; a handler's ratio
    is the median of its per-round ratios to that round's ``import boto3`` (both from the built layer)."""
    layer = BUILD / "SharedLayer" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        plain_layer = _strip_pyc(layer, Path(tmp) / "layer")
        configs: dict[str, tuple[str, list[Path]]] = {
            "boto3": ("import boto3", [layer]),
            "boto3 (no .pyc)": ("import boto3", [plain_layer]),
        }
        for name, logical_id in FUNCTIONS.items():
            # boto3 too: the handlers import it only on first use, and every request uses it (the token, Route 53),
            # so a cold start pays for both; the ratio is then our own cost on top of boto3's.
            configs[name] = (HANDLER_IMPORT, [BUILD / logical_id, layer])
            configs[f"{name} (no .pyc)"] = (
                HANDLER_IMPORT,
                [_strip_pyc(BUILD / logical_id, Path(tmp) / logical_id), plain_layer],
            )
        samples = _paired(configs, runs)
    results: dict[str, Any] = {
        "runs": runs,
        "import_boto3_s": statistics.median(samples["boto3"]),
        "import_boto3_without_pyc_s": statistics.median(samples["boto3 (no .pyc)"]),
        "handlers": {},
    }
    for name in FUNCTIONS:
        compiled, plain = samples[name], samples[f"{name} (no .pyc)"]
        ratios = [c / b for c, b in zip(compiled, samples["boto3"], strict=True)]
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        results["handlers"][name] = {
            "compiled_s": statistics.median(compiled),
            "without_pyc_s": statistics.median(plain),
            "ratio_to_boto3": statistics.median(ratios),
            "ratio_to_boto3_quartiles": (quartiles[0], quartiles[2]),
            "added_s": statistics.median(c - b for c, b in zip(compiled, samples["boto3"], strict=True)),
            "ratio_to_boto3_without_pyc": statistics.median(
                p / b for p, b in zip(plain, samples["boto3"], strict=True)
            ),
        }
    return results


def measure_sizes() -> dict[str, Any]:
    sizes = {}
    for path in sorted(p for p in BUILD.iterdir() if p.is_dir()):
        raw, count, zipped = _size(path)
        sizes[path.name] = {"bytes": raw, "files": count, "zipped_bytes": zipped}
    return sizes


def measure_lifecycle() -> dict[str, Any]:
    """The rehearsal's lifecycle, run in a fresh process (nothing this process imported or cached helps it; the
    rehearsal drops the token cache whenever it moves to another function, as each function is its own process)."""
    with tempfile.TemporaryDirectory() as workdir:  # its handler log is written there, not into the checkout
        out = subprocess.run(
            [sys.executable, "-m", "arda_ops.rehearsal.cli", "--partition", "dev", "--json", "--no-drift"],
            capture_output=True,
            text=True,
            check=False,
            cwd=workdir,
        )
    report = json.loads(out.stdout)
    operations = []
    for step in report["steps"]:
        if step["kind"] in {"Create", "Update", "Delete"}:
            operations.append(
                {
                    "operation": f"{step['kind']} {step['title']}",
                    "status": step["status"],
                    "postmark_calls": len(step["postmark_calls"]),
                    "aws_calls": sum(step["aws_calls"].values()),
                    "calls": step["postmark_calls"] + [f"{k} x{v}" for k, v in step["aws_calls"].items()],
                    "seconds": step["seconds"],
                }
            )
    return {"passed": report["passed"], "operations": operations}


def measure_ns_pending() -> list[dict[str, Any]]:
    """The NS delegation's PENDING path, in a fresh process (see :mod:`arda_ops.bench_ns_pending`)."""
    out = subprocess.run(
        [sys.executable, "-m", "arda_ops.bench_ns_pending"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=600,
    )
    rows: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def measure_drift(synthetic: int) -> dict[str, Any]:
    from arda_ops.bench_drift import time_drift

    return time_drift(synthetic)


def _print(report: dict[str, Any]) -> None:
    imports = report["imports"]
    python = sys.version.split()[0]
    print(
        f"Cold import from .aws-sam/build: fresh `python -S` processes seeing only the function and the layer, "
        f"{imports['runs']} interleaved rounds, medians (Python {python})"
    )
    print(
        f"  import boto3 alone (from the layer): {imports['import_boto3_s'] * 1000:.0f} ms "
        f"({imports['import_boto3_without_pyc_s'] * 1000:.0f} ms without .pyc)"
    )
    print(
        f"  {'handler':<30}{'as sam build ships':>19}{'added':>9}{'ratio':>7}{'(quartiles)':>14}"
        f"{'without .pyc':>14}{'ratio':>7}"
    )
    for name, row in imports["handlers"].items():
        low, high = row["ratio_to_boto3_quartiles"]
        print(
            f"  {name:<30}{row['compiled_s'] * 1000:>16.0f} ms{row['added_s'] * 1000:>6.1f} ms"
            f"{row['ratio_to_boto3']:>7.2f}{f'({low:.2f}-{high:.2f})':>14}"
            f"{row['without_pyc_s'] * 1000:>11.0f} ms{row['ratio_to_boto3_without_pyc']:>7.2f}"
        )
    print(
        f"  goal: ratio <= {IMPORT_RATIO_GOAL:.2f} as sam build ships it (median of the per-round ratios; "
        "'added' is the median per-round difference)"
    )
    print("\nBuilt artifacts")
    for name, row in report["sizes"].items():
        kib, zipped = row["bytes"] / 1024, row["zipped_bytes"] / 1024
        print(f"  {name:<40}{kib:>9.0f} KiB {row['files']:>6} files {zipped:>9.0f} KiB zipped")
    print("\nLifecycle operations against zero-latency emulators (API calls counted, wall time measured)")
    for op in report["lifecycle"]["operations"]:
        flag = "" if op["seconds"] <= 1.0 else "  > 1 s!"
        print(
            f"  {op['operation']:<72}{op['status']:<8} Postmark {op['postmark_calls']}  AWS {op['aws_calls']}"
            f"  {op['seconds'] * 1000:>6.0f} ms{flag}"
        )
    print("\nNS delegation while Route 53 answers PENDING (first look immediate, then 1 s, 2 s, ... between looks)")
    for op in report["ns_pending"]:
        print(
            f"  {op['operation']:<50}{op['status']:<8} {op['change_answers']} change answer(s)"
            f"  {op['seconds'] * 1000:>6.0f} ms"
        )
    drift = report["drift"]
    print("\nDrift check (timed in its own process; the loopback world serves from the bench's)")
    for row in drift["runs"]:
        print(
            f"  {row['targets']:>3} partitions: {row['seconds']:.2f} s, {row['checks']} checks, exit {row['exit_code']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description="Print the project's performance figures.")
    parser.add_argument("--runs", type=int, default=21, help="interleaved rounds of cold imports (medians)")
    parser.add_argument("--synthetic", type=int, default=50, help="synthetic partitions for the drift timing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not (BUILD / "SharedLayer").exists():
        print("no .aws-sam/build: run `make build` first", file=sys.stderr)
        return 2
    report = {
        "imports": measure_imports(args.runs),
        "sizes": measure_sizes(),
        "lifecycle": measure_lifecycle(),
        "ns_pending": measure_ns_pending(),
        "drift": measure_drift(args.synthetic),
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
