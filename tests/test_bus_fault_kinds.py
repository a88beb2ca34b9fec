"""Each Redis error reply the worker can meet, and what it does about it: wait and retry, set
the entry aside, or stop with one line. Replies are turned into exceptions by redis-py's own
parser, as they would arrive from a server; Redis 6.2 wraps the error of a command inside a Lua
script, Redis 7 does not, and both must be read the same."""

from __future__ import annotations

import pytest
from redis._parsers.base import BaseParser
from redis.exceptions import AuthenticationError, ConnectionError, RedisError, TimeoutError

from shared.bus._faults import FaultKind, classify, stop_error


def reply(text: str) -> RedisError:
    """The exception redis-py raises for the error reply ``-<text>``."""
    error = BaseParser.parse_error(text)  # type: ignore[no-untyped-call]  # redis-py: untyped
    assert isinstance(error, RedisError)
    return error


def in_script_6_2(text: str) -> RedisError:
    """A command's error ``text`` inside a script, as Redis 6.2 reports it."""
    return reply(
        "ERR Error running script (call to f_3b5e2ef19ff2905a56db6a80fd5d2de5bdcd36da): "
        f"@user_script:12: @user_script: 12: -{text}"
    )


OOM = "OOM command not allowed when used memory > 'maxmemory'."
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (reply(OOM), FaultKind.RETRY, "OOM"),
        (in_script_6_2(OOM), FaultKind.RETRY, "OOM"),
        (reply(f"{OOM} script: f_3b5e, on @user_script:12."), FaultKind.RETRY, "OOM"),
        (reply("LOADING Redis is loading the dataset in memory"), FaultKind.RETRY, "LOADING"),
        (reply("BUSY Redis is busy running a script."), FaultKind.RETRY, "BUSY"),
        (reply("MASTERDOWN Link with MASTER is down"), FaultKind.RETRY, "MASTERDOWN"),
        (reply("TRYAGAIN Multiple keys request during rehashing"), FaultKind.RETRY, "TRYAGAIN"),
        (reply("READONLY You can't write against a replica."), FaultKind.RETRY, "READONLY"),
        (reply("MISCONF Redis is configured to save RDB snapshots"), FaultKind.RETRY, "MISCONF"),
        (ConnectionError("Connection refused"), FaultKind.RETRY, "ConnectionError"),
        (TimeoutError("Timeout reading from socket"), FaultKind.RETRY, "TimeoutError"),
        (reply(WRONGTYPE), FaultKind.POISON, "WRONGTYPE"),
        (
            reply(
                "ERR Error running script (call to f_eacb93b3e7d8e0a0720ed84adcf115372eb17205): "
                f"@user_script:3: {WRONGTYPE}"
            ),
            FaultKind.POISON,
            "WRONGTYPE",
        ),
        (reply(f"{WRONGTYPE} script: f_eacb, on @user_script:3."), FaultKind.POISON, "WRONGTYPE"),
        (reply("NOSCRIPT No matching script. Please use EVAL."), FaultKind.FATAL, "NOSCRIPT"),
        (reply("NOAUTH Authentication required."), FaultKind.FATAL, "NOAUTH"),
        (reply("WRONGPASS invalid username-password pair"), FaultKind.FATAL, "NOAUTH"),
        (reply("NOPERM this user has no permissions to run 'evalsha'"), FaultKind.FATAL, "NOPERM"),
        (
            reply("ERR unknown command 'XAUTOCLAIM', with args beginning with: '{t}:tasks' "),
            FaultKind.FATAL,
            "ERR unknown command",
        ),
        (reply("ERR syntax error"), FaultKind.FATAL, "ERR"),
        (reply("NOGROUP No such key or consumer group"), FaultKind.FATAL, "NOGROUP"),
    ],
)
def test_each_error_reply_has_one_kind(error: RedisError, kind: FaultKind, code: str) -> None:
    fault = classify(error)
    assert fault is not None
    assert (fault.kind, fault.code) == (kind, code)


def test_an_error_that_is_not_from_redis_is_not_classified() -> None:
    assert classify(KeyError("a bug")) is None


def test_a_connection_refused_for_its_credentials_is_fatal_not_an_outage() -> None:
    fault = classify(AuthenticationError("invalid password"))
    assert fault is not None
    assert fault.kind is FaultKind.FATAL


def test_the_stop_line_names_the_code_and_never_the_reply() -> None:
    error = reply(
        "ERR unknown command 'EVALSHA', with args beginning with: 'abc' "
        "'tandem:{s:caller-555-0100}:done' "
    )
    line = str(stop_error(error))
    assert line == (
        "the task worker stopped: Redis answered ERR unknown command: this Redis lacks a command "
        "the bus needs; it needs Redis 6.2 or newer"
    )
    assert "555" not in line


def test_a_wrong_type_outside_a_session_stops_with_the_keys_it_may_be() -> None:
    line = str(stop_error(reply(WRONGTYPE)))
    assert "WRONGTYPE" in line
    assert "task, control or dead-letter stream" in line
