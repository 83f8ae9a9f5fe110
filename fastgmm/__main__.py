"""``python -m fastgmm``: the same command line as the ``fastgmm`` script."""

import sys

from fastgmm.cli import main

if __name__ == "__main__":
    sys.exit(main())
