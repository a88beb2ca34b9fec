"""``python -m thinker``: the same as ``tandem thinker``."""

from thinker.cli import thinker_command

if __name__ == "__main__":
    thinker_command(prog_name="python -m thinker")
