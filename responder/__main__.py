"""``python -m responder start|dev|console|connect``: the realtime voice worker."""

from responder.cli import responder_command

if __name__ == "__main__":
    responder_command(prog_name="python -m responder")
