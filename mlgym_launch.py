"""The ``mlgym`` console script. It skips the gymnasium registration that ``import mlgym_core``
does for library users (the CLI never needs it), which keeps ``mlgym list-plugins`` fast."""

import os


def main() -> None:
    os.environ["MLGYM_NO_GYM_REGISTER"] = "1"
    try:
        from mlgym_core.cli import main as cli_main
    finally:
        del os.environ["MLGYM_NO_GYM_REGISTER"]
    cli_main()
