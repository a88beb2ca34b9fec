"""The tandem image's HEALTHCHECK, for both roles (standard library only: a check every 15 s
should not import tandem).

One image runs either ``tandem responder start`` or ``tandem thinker``, and a Dockerfile has one
HEALTHCHECK, so this asks the responder's health endpoint first (``GET /`` on
``TANDEM_RESPONDER_HTTP_PORT``) and, when nothing listens there, the thinker's (``GET /healthz``
on ``TANDEM_THINKER_HTTP_PORT``). Exit status 0 only for a 200; 1 for anything else, with the
reason on stdout (``docker inspect`` shows it). The defaults are those of ``shared/config.py``
(``tests/test_deploy_manifests.py`` keeps them equal).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

RESPONDER = ("TANDEM_RESPONDER_HTTP_PORT", 8081, "/")
THINKER = ("TANDEM_THINKER_HTTP_PORT", 8082, "/healthz")
TIMEOUT_S = 3.0


def url(variable: str, default: int, path: str) -> str:
    """Where the endpoint answers inside the container."""
    return f"http://127.0.0.1:{os.environ.get(variable) or default}{path}"


def check() -> tuple[bool, str]:
    """(healthy, what was found)."""
    for variable, default, path in (RESPONDER, THINKER):
        target = url(variable, default, path)
        try:
            with urllib.request.urlopen(target, timeout=TIMEOUT_S) as response:  # noqa: S310
                return response.status == 200, f"{target}: {response.status}"
        except urllib.error.HTTPError as error:  # a 503: the process answers, and is not ready
            return False, f"{target}: {error.code} {error.read().decode(errors='replace')}"
        except (urllib.error.URLError, OSError):
            continue  # nothing listens: the other role, or not started yet
    return False, "no health endpoint answers"


def main() -> int:
    """Print what was found; 0 when healthy."""
    healthy, found = check()
    print(found)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
