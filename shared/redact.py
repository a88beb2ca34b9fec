"""Personal data out of a call's text before anything is stored.

A :class:`Redactor` serves one call. It replaces phone numbers (written, international, or read
digit by digit), payment card numbers (Luhn-checked), email addresses (written or spoken: "john
at gmail dot com") and the names the caller gave with ``[phone]``, ``[card]``, ``[email]`` and
``[name]``. Booking references ("TT-4821"), prices, times, dates, party sizes and years stay.

Names are learned, not guessed: from what a caller says ("my name is Priya Sharma", "it's under
Patel", "this is Tom speaking", "Mrs Okafor"), from a spelled name ("P-A-T-E-L", "p a t e l"),
and from tool arguments (``{"name": "Patel"}``). Once learned, a name is redacted wherever it
appears as a whole word, and in its spelled form. A word becomes a name only when it is
capitalised or a common name (:data:`shared.names.COMMON_NAMES`: speech-to-text writes names in
lower case too) and not a common word ("this is great", "it's under the table").

Redacting a whole call with :meth:`Redactor.redact_events` learns from every event first, so a
name given late in the call is removed from the earlier lines as well.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from shared._pii_numbers import CARD, EMAIL, PHONE, redact_emails, redact_numbers
from shared.names import COMMON_NAMES, spelled_name, tidy_name

__all__ = ["CARD", "EMAIL", "NAME", "NAME_KEYS", "PHONE", "TEXT_KEYS", "Redactor", "redact_events"]

NAME = "[name]"

TEXT_KEYS = frozenset(
    {
        "text", "transcript", "request", "message", "content", "arguments", "args", "input",
        "output", "result", "reason", "detail", "details", "summary", "question", "answer",
        "error", "utterance", "instructions", "caller_name", "guest_name", "first_name",
        "last_name", "full_name", "phone", "phone_number", "email",
    }
)  # fmt: skip
"""Keys whose string values, at any depth below them, are redacted by
:meth:`Redactor.redact_event`. Keys ending in ``id`` are never redacted (ids stay joinable)."""

NAME_KEYS = frozenset({"name", "caller_name", "first_name", "last_name", "guest_name", "full_name"})
"""Keys of tool-call arguments whose values are people's names."""

_ARGUMENT_KEYS = frozenset({"arguments", "args", "input"})
_AGENT_ROLES = frozenset({"agent", "assistant"})

_STOP_TEXT = """
    a about above after again all also am an and any anyone anything are around as at away back
    be been before being below between both but by can could did do does doing done down during
    each either else even every everyone everything few for from further had has have having he
    her here hers him his how i if in into is it its just least less let like many me mine more
    most much must my myself neither no nobody none nor not nothing now of off on once one only
    or other our ours out over own please quite rather really same she should so some someone
    something soon still such than thanks thank that the their them then there these they thing
    this those though through to too under until up upon us very was we well were what when
    where whether which while who whom whose why will with within without would yes yet you
    your yours yeah yep nope okay ok sure hi hello hey bye goodbye sorry pardon
    calling speaking here phoning ringing again actually just also
    great good fine perfect correct right wrong wonderful lovely amazing awesome nice fantastic
    terrible awful bad important urgent ridiculous unacceptable strange weird crazy funny cool
    true false possible impossible new old big small free busy open closed full available
    table tables booking bookings reservation reservations party people person adults adult kids
    child children guests guest seats seat list name names number phone email card line
    business shop store menu order delivery takeaway pickup room table's
    two three four five six seven eight nine ten eleven twelve twenty thirty half dozen couple
    today tonight tomorrow yesterday now later morning afternoon evening night noon midnight
    lunch dinner breakfast brunch weekend week month year hour minute minutes hours
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    mr mrs ms miss dr sir madam
    de la van von der del da di du dos das den
"""
_STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words that follow "this is", "booking for", "it's under" ... without being a name."""

_INTRO = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name's|the\s+name\s+is|this\s+is|"
    r"(?:it's|it\s+is|that's|booked|booking|reservation|put\s+it|table)\s+under"
    r"(?:\s+the\s+name(?:\s+of)?)?|under\s+the\s+name(?:\s+of)?|"
    r"(?:booking|reservation|booked|table)\s+for|(?:mr|mrs|ms|miss|dr)\b\.?)"
    r"\s+(?P<name>[A-Za-z][\w'\u2019-]*(?:\s+[A-Za-z][\w'\u2019-]*){0,2})",
    re.IGNORECASE,
)
"""A phrase that introduces a name, and up to three words after it."""
_TWO_LETTERS = re.compile(r"(?<![\w-])[A-Z]-[A-Z](?![\w-])")
"""A two-letter name spelled with a hyphen ("L-I"); :func:`shared.names.spelled_name` wants
three letters or more."""
_WORD = re.compile(r"[A-Za-z][A-Za-z'\u2019-]*[A-Za-z]")
_POSSESSIVE = re.compile(r"['\u2019]s$", re.IGNORECASE)
_MAX_NAME_WORDS = 5
"""Words of one name at most ("Maria de la Cruz Fernandez"); a longer "spelling" is a list of
letters, not a name."""
_MAX_NAME_LETTERS = 30
"""Letters of one word of a name at most; a longer run of letters is no name."""
_LETTER_SEP = r"(?:\s*(?:[-,.]|apostrophe|['\u2019])\s*|\s+)"


class Redactor:
    """Redacts one call's text and events; learns the caller's names as the call goes on."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    @property
    def names(self) -> frozenset[str]:
        """The names learned so far (as given, each word and the whole)."""
        return frozenset(self._names)

    def learn_name(self, name: str) -> None:
        """Learn a name given outright (a tool argument): the whole of it and each word of two
        letters or more that is not a common word."""
        given = [_POSSESSIVE.sub("", word) for word in _WORD.findall(name)][:_MAX_NAME_WORDS]
        given = [word for word in given if len(word) <= _MAX_NAME_LETTERS]
        words = {word for word in given if word.lower() not in _STOP_WORDS}
        if len(given) > 1 and words:
            words.add(" ".join(given))
        if not words <= self._names:
            self._names.update(words)
            self._pattern = None

    def learn_names_from(self, text: str) -> None:
        """Learn the names ``text`` gives: after a phrase that introduces one ("my name is X",
        "it's under X", "booking for X", "Mr X", ...) and spelled out ("P-A-T-E-L")."""
        for match in _INTRO.finditer(text):
            name = _leading_name(match.group("name").split())
            if name:
                self.learn_name(name)
        self.learn_spelled_from(text)

    def learn_spelled_from(self, text: str) -> None:
        """Learn a name spelled out in ``text`` ("P-A-T-E-L", "p a t e l", "L-I")."""
        spelled = spelled_name(text)
        if spelled and len(spelled.split()) <= _MAX_NAME_WORDS:
            self.learn_name(spelled)
        for found in _TWO_LETTERS.finditer(text):
            self.learn_name(tidy_name(found.group().replace("-", "")))

    def redact(self, text: str) -> str:
        """``text`` with emails, card and phone numbers and the learned names replaced."""
        text = redact_numbers(redact_emails(text))
        pattern = self._names_pattern()
        return pattern.sub(NAME, text) if pattern is not None else text

    def learn(self, event: dict[str, Any]) -> None:
        """Learn names from an event: from its text (not from the agent's own lines, where
        "this is Acme Dental" names no caller, though a spelling there counts) and from
        tool-call arguments under :data:`NAME_KEYS`."""
        self._learn_from(event, in_text=False, in_arguments=False, agent=False)

    def redact_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """A redacted deep copy of ``event``: every string at any depth under one of
        :data:`TEXT_KEYS`; ids, event names, sources and numbers stay as they are."""
        redacted = self._redact_value(copy.deepcopy(event), in_text=False)
        assert isinstance(redacted, dict)
        return redacted

    def redact_events(self, events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """A whole call redacted: learns from every event first, then redacts each (a name
        given late is removed from the earlier lines too)."""
        for event in events:
            self.learn(event)
        return [self.redact_event(event) for event in events]

    def _names_pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._names:
            words = sorted(self._names, key=len, reverse=True)
            spelled = [_spelled_pattern(word) for word in words if " " not in word]
            plain = [re.escape(word).replace("'", "['\u2019]") for word in words]
            self._pattern = re.compile(
                rf"(?<!\w)(?<!\w['\u2019])(?:{'|'.join(spelled + plain)})(?!\w)", re.IGNORECASE
            )
        return self._pattern

    def _learn_from(self, value: Any, *, in_text: bool, in_arguments: bool, agent: bool) -> None:
        if isinstance(value, dict):
            agent = agent or str(value.get("role", "")).lower() in _AGENT_ROLES
            for key, item in value.items():
                if in_arguments and key in NAME_KEYS and isinstance(item, str):
                    self.learn_name(item)
                    continue
                self._learn_from(
                    item,
                    in_text=in_text or key in TEXT_KEYS,
                    in_arguments=in_arguments or key in _ARGUMENT_KEYS,
                    agent=agent,
                )
        elif isinstance(value, list):
            for item in value:
                self._learn_from(item, in_text=in_text, in_arguments=in_arguments, agent=agent)
        elif isinstance(value, str) and in_arguments and (parsed := _json_object(value)):
            self._learn_from(parsed, in_text=True, in_arguments=True, agent=agent)
        elif isinstance(value, str) and in_text and agent:
            self.learn_spelled_from(value)
        elif isinstance(value, str) and in_text:
            self.learn_names_from(value)

    def _redact_value(self, value: Any, *, in_text: bool) -> Any:
        if isinstance(value, dict):
            return {
                key: item
                if _is_id(key)
                else self._redact_value(item, in_text=in_text or key in TEXT_KEYS)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._redact_value(item, in_text=in_text) for item in value]
        if isinstance(value, str) and in_text:
            return self.redact(value)
        return value


def redact_events(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A whole call's events redacted by a fresh :class:`Redactor` (see
    :meth:`Redactor.redact_events`)."""
    return Redactor().redact_events(events)


def _leading_name(words: list[str]) -> str:
    """The name at the start of ``words``: up to three name-like words, in a row."""
    taken: list[str] = []
    for word in words:
        word = _POSSESSIVE.sub("", word.strip("'\u2019-"))
        if not _is_name_word(word):
            break
        taken.append(word)
    return " ".join(taken)


def _is_name_word(word: str) -> bool:
    lowered = word.lower()
    if len(word) < 2 or lowered in _STOP_WORDS or not _WORD.fullmatch(word):
        return False
    return word[0].isupper() or lowered in COMMON_NAMES or lowered.replace("'", "") in COMMON_NAMES


def _spelled_pattern(word: str) -> str:
    """A regex for ``word`` spelled letter by letter: "P-A-T-E-L", "P A T E L", "P, A, T..."."""
    letters = [char for char in word if char.isalpha()]
    return _LETTER_SEP.join(re.escape(letter) for letter in letters)


def _is_id(key: str) -> bool:
    return key == "id" or key.endswith(("_id", "_ids", "Id"))


def _json_object(text: str) -> dict[str, Any] | list[Any] | None:
    """``text`` parsed when it is a JSON object or array (tool arguments often arrive so)."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None
