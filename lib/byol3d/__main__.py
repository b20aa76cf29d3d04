"""`python -m byol3d <command> ...`: the `byol3d` command (the same function as the console script)."""

import sys

from byol3d.cli import main

if __name__ == "__main__":
    sys.exit(main())
