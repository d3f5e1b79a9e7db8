"""Build the documentation site in strict mode (what CI runs).

    pip install -e ".[docs]" && python docs/scripts/build_docs.py

1. checks that the figure script still runs (the drawings only, written to a
   temporary directory: the committed docs/img/*.png are not touched; run
   ``python docs/scripts/make_figures.py`` to refresh them);
2. runs ``mkdocs build --strict``: any warning — a page missing from the nav,
   a broken link or image, a docstring mkdocstrings cannot parse — fails.

Exits non-zero on any failure. ``--site-dir DIR`` keeps the built site
(default: a temporary directory, removed afterwards).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the docs with mkdocs --strict.")
    parser.add_argument("--site-dir", help="where to write the site (default: a temporary dir)")
    parser.add_argument("--skip-figures", action="store_true",
                        help="do not check that docs/scripts/make_figures.py runs")
    args = parser.parse_args(argv)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_figures:
            cmd = [sys.executable, os.path.join(HERE, "make_figures.py"), "--no-measure",
                   "--out", os.path.join(tmp, "img")]
            print("+", " ".join(cmd), flush=True)
            if subprocess.run(cmd, cwd=ROOT, env=env).returncode:
                print("docs: make_figures.py failed", file=sys.stderr)
                return 1
        site = args.site_dir or os.path.join(tmp, "site")
        cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
               "--config-file", os.path.join(ROOT, "mkdocs.yml"), "--site-dir", site]
        print("+", " ".join(cmd), flush=True)
        if subprocess.run(cmd, cwd=ROOT, env=env).returncode:
            print("docs: mkdocs build --strict failed", file=sys.stderr)
            return 1
    print("docs: built in strict mode")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
