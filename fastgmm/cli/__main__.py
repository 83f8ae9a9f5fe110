"""``python -m fastgmm.cli``, as before the module became a package."""

import sys

from fastgmm.cli import main

sys.exit(main())
