"""`python3 -m analysis.plot INPUTS... --out DIR`: see cli.py or `--help`."""

import sys

import matplotlib

matplotlib.use("Agg")  # figures are only saved; never need a display

from .cli import main  # noqa: E402  (after the backend choice)

sys.exit(main())
