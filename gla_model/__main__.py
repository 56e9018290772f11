"""``python -m gla_model``: the ``gla-model`` command. The workflow's rules call it so,
through the interpreter that runs Snakemake, so that no PATH lookup is needed."""

import sys

from gla_model.cli import main

if __name__ == "__main__":
    sys.exit(main())
