"""For every op of the IR, the source files (outside tests and docs) that name it.

[K]'s measure of "one op, one place": a file names an op when the op's name occurs in its
text as a whole word (case-sensitive; comments count too, since a comment naming an op is
knowledge of it to keep in step). Sources are the package folders and ``bench/``.

    python bench/op_files.py            # the table
    python bench/op_files.py --files    # and the files of each op
    python bench/op_files.py --max 6    # exit 1 when an op is named in more files
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("sw", "sim", "hw", "export", "bench")
SUFFIXES = {".py", ".v", ".sv", ".h", ".hpp", ".cpp", ".tcl", ".yaml", ".yml", ".lpf", ".pcf"}


def ir_ops() -> list[str]:
    from adderflow.sim.ops import OPS

    return sorted(OPS)


def source_files(root: Path = ROOT) -> list[Path]:
    return sorted(
        p
        for d in SOURCE_DIRS
        for p in (root / d).rglob("*")
        if p.is_file() and p.suffix in SUFFIXES and "__pycache__" not in p.parts
    )


def files_naming(ops: list[str], root: Path = ROOT) -> dict[str, list[str]]:
    texts = {
        p.relative_to(root).as_posix(): p.read_text(errors="replace") for p in source_files(root)
    }
    return {
        op: [name for name, text in texts.items() if re.search(rf"\b{op}\b", text)] for op in ops
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="list the files of each op")
    parser.add_argument("--max", type=int, default=None, help="fail above this many files")
    args = parser.parse_args(argv)
    table = files_naming(ir_ops())
    width = max(map(len, table))
    print(f"{'op':<{width}}  files")
    for op, files in table.items():
        print(f"{op:<{width}}  {len(files):>5}" + (f"  {' '.join(files)}" if args.files else ""))
    over = [op for op, files in table.items() if args.max is not None and len(files) > args.max]
    if over:
        print(f"over {args.max} files: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
