"""``python -m im2col_nb``: the command line (see :mod:`im2col_nb.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
