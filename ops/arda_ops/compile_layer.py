"""Compile the built layer's (and functions') Python files to ``.pyc`` for the runtime's interpreter.

``sam build`` ships sources only, and Lambda's ``/opt`` is read-only, so without this every cold start
recompiles what it imports (``make bench`` measures the difference). ``unchecked-hash`` pyc files are used
whatever the file timestamps become inside the deployment zip. Run it with the runtime's Python (3.13).
"""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path


def compile_tree(build_dir: Path) -> int:
    """Compile every built artifact under ``build_dir`` (layers and functions); returns how many."""
    targets = sorted(p for p in build_dir.iterdir() if p.is_dir())
    for target in targets:
        ok = compileall.compile_dir(
            str(target),
            quiet=1,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            workers=0,
        )
        if not ok:
            raise SystemExit(f"compileall failed in {target}")
    return len(targets)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    build_dir = Path(args[0] if args else ".aws-sam/build")
    if sys.version_info[:2] != (3, 13):
        print(
            f"compile_layer must run on Python 3.13 (the Lambda runtime), not {sys.version.split()[0]}", file=sys.stderr
        )
        return 2
    count = compile_tree(build_dir)
    print(f"compiled {count} artifact folder(s) under {build_dir} for Python 3.13")
    return 0


if __name__ == "__main__":
    sys.exit(main())
