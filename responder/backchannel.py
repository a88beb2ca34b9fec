"""Backchannel or barge-in: what to do when the caller speaks over the agent.

A backchannel ("mm-hm", "right", "I see") shows the caller is listening: the agent goes on. A
barge-in ("wait", "sorry, which day?", "no, make it five") takes the turn: the agent yields. The
transcript alone is not enough: Whisper makes words of listening noises ("mm-hm" comes back as
"Mama", a hum as "Who?"), so :func:`classify` weighs, for one stretch of caller speech:

* the **words**: listening words (acknowledgements, :data:`LISTENING`), the non-words Whisper
  makes of murmurs (:data:`MURMUR`), and softeners ("oh", "well", "that's") that add nothing;
  any other word is a **content word**;
* **commands** (:data:`COMMANDS`: "wait", "stop", "hold on", "no", "sorry", "pardon", "what",
  "actually"...) and **questions** (a wh-word or an auxiliary opening the line, with more words
  after it);
* the **word count** and the speech's **duration** (from the VAD: a backchannel is brief);
* Whisper's **confidence** (its mean token probability): a murmur it made a word of is an unsure
  guess (0.2-0.6 measured in the caller voice), a word it heard is not (0.6-0.95).

The rule, first match wins:

1. no words: backchannel (nothing was said; a noise);
2. a command: barge-in, however short or unsure ("wait!" must always stop the agent);
3. only listening words, murmurs and softeners, at most :data:`MAX_BACKCHANNEL_WORDS` words
   and :data:`MAX_BACKCHANNEL_S` long: backchannel;
4. an unsure guess (confidence below :data:`UNSURE_CONFIDENCE`) of at most
   :data:`MAX_NOISE_WORDS` words and :data:`MAX_NOISE_S`, and not a question: backchannel (a
   murmur Whisper made words of);
5. anything else (content words, a question, a long stretch of speech): barge-in.

Durations and confidences are optional: without them (a text-only check) rules 3 and 4 judge by
the words. Thanks ("thank you") said *over* the agent acknowledge what it says and are a
backchannel; said to a silent agent they are a turn of their own that deserves "you're
welcome", so :func:`is_backchannel`, the text-only check a brain uses for a turn, leaves them
out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BACKCHANNEL_WORDS = 8
"""Listening words beyond this many are someone taking the turn, whatever the words."""
MAX_BACKCHANNEL_S = 2.5
"""Speech longer than this is not a listening noise, whatever Whisper made of it."""
UNSURE_CONFIDENCE = 0.6
"""Below this mean token probability a transcript is Whisper's guess, not words it heard."""
MAX_NOISE_WORDS = 3
MAX_NOISE_S = 1.0
"""An unsure guess is taken for a murmur only when it is this short (words and seconds)."""

LISTENING = frozenset(
    {
        "yeah", "yea", "ya", "yes", "yep", "yup", "ok", "okay", "okey", "k", "right", "sure",
        "alright", "fine", "good", "great", "cool", "nice", "lovely", "perfect", "excellent",
        "wonderful", "fantastic", "awesome", "brilliant", "wow", "gotcha", "exactly",
        "absolutely", "definitely", "indeed", "true", "totally", "certainly", "correct",
        "agreed", "understood", "noted", "interesting", "sweet", "super",
        "oic",  # Whisper's spelling of "oh, I see"
    }
)  # fmt: skip
"""Acknowledgements: words a listener says without taking the turn."""
LISTENING_PHRASES = (
    "i see", "got it", "get it", "of course", "makes sense", "make sense", "fair enough",
    "sounds good", "sounds great", "sounds fine", "sounds right", "go on", "go ahead",
    "carry on", "keep going", "i understand", "i know", "i hear you", "no problem",
    "no worries", "not bad", "for sure", "you bet", "all right", "uh huh", "mm hm",
)  # fmt: skip
"""Acknowledgements of several words (some made of words that alone would mean more)."""
COURTESY_PHRASES = ("thank you", "thanks", "thank", "cheers")
"""Thanks: a backchannel over the agent's speech, a turn of its own otherwise."""
MURMUR = re.compile(
    r"^(?:u+h+|u+m+|e+r+m*|e+h+|a+h+|o+h+|o+o+h*|h+m+|m+|m+h+m*|h+u+h+|a+h+a+|u+h+h?u+h+|"
    r"m+a+m+a+|(?:ha)+h?|h+e+h+)$"
)
"""One token of a listening noise as Whisper writes it: uh, um, er, ah, oh, hmm, mm, mhm, huh,
aha, a laugh (ha, hah, heh), and "Mama" (its usual hearing of "mm-hm")."""
SOFTENERS = frozenset(
    {"oh", "ah", "well", "so", "very", "really", "quite", "just", "that's", "thats", "it's", "its",
     "that", "then", "all", "and", "i", "you"}
)  # fmt: skip
"""Words that soften an acknowledgement without adding to it ("oh, that's great")."""
COMMANDS = frozenset(
    {"wait", "stop", "hold", "hang", "no", "nope", "nah", "sorry", "excuse", "pardon", "what",
     "actually", "cancel", "repeat", "again", "listen", "instead", "but", "never", "don't"}
)  # fmt: skip
"""Words that take the turn however they are said: stop, correct, ask to repeat."""
QUESTION_OPENERS = frozenset(
    {"what", "when", "where", "which", "who", "whom", "whose", "why", "how", "can", "could",
     "would", "will", "shall", "should", "may", "might", "do", "does", "did", "is", "are", "was",
     "were", "have", "has", "am"}
)  # fmt: skip
"""Words that open a question."""

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_PHRASE = re.compile(
    r"\b(?:" + "|".join(re.escape(p) for p in (*LISTENING_PHRASES, *COURTESY_PHRASES)) + r")\b"
)


@dataclass(frozen=True)
class Verdict:
    """What :func:`classify` decided, and why (for logs and tests; never the words)."""

    backchannel: bool
    reason: str
    """``silence``, ``command``, ``listening``, ``unsure``, ``question``, ``content`` or
    ``too_long``."""

    @property
    def barge_in(self) -> bool:
        """The agent should yield the turn."""
        return not self.backchannel


def words(text: str) -> list[str]:
    """The lower-case words of a transcript ("Mm-hm." is ``["mm", "hm"]``)."""
    return _TOKEN.findall(text.lower().replace("\u2019", "'"))


def classify(
    text: str,
    *,
    duration_s: float | None = None,
    confidence: float | None = None,
    thanks: bool = True,
) -> Verdict:
    """Backchannel or barge-in, for caller speech ``text`` said over the agent: see the module's
    rule. ``duration_s``: how long the speech was; ``confidence``: the transcript's (0-1, mean
    token probability); ``thanks``: count thanks as listening words (over the agent, yes)."""
    tokens = words(text)
    if not tokens:
        return Verdict(True, "silence")
    phrases = COURTESY_PHRASES if thanks else ()
    rest = _without_phrases(tokens, phrases)
    if any(token in COMMANDS for token in rest):
        return Verdict(False, "command")
    listening = all(_listening(token) for token in rest)
    too_long = len(tokens) > MAX_BACKCHANNEL_WORDS or (
        duration_s is not None and duration_s > MAX_BACKCHANNEL_S
    )
    if listening and not too_long:
        return Verdict(True, "listening")
    question = _is_question(rest)
    unsure = (
        confidence is not None
        and confidence < UNSURE_CONFIDENCE
        and len(tokens) <= MAX_NOISE_WORDS
        and duration_s is not None
        and duration_s <= MAX_NOISE_S
    )
    if unsure and not question:
        return Verdict(True, "unsure")
    if question:
        return Verdict(False, "question")
    return Verdict(False, "too_long" if listening else "content")


def is_backchannel(
    text: str, *, duration_s: float | None = None, confidence: float | None = None
) -> bool:
    """True if ``text`` is only listening noises and acknowledgements (see :func:`classify`),
    thanks excepted: a turn like this needs no reply."""
    if not words(text):
        return False
    return classify(text, duration_s=duration_s, confidence=confidence, thanks=False).backchannel


def _without_phrases(tokens: list[str], courtesy: tuple[str, ...]) -> list[str]:
    """``tokens`` with the listening phrases (and ``courtesy`` ones) taken out."""
    kept = " ".join(tokens)
    for phrase in _PHRASE.findall(kept):
        if phrase in LISTENING_PHRASES or phrase in courtesy:
            kept = re.sub(rf"\b{re.escape(phrase)}\b", " ", kept, count=1)
    return kept.split()


def _is_question(tokens: list[str]) -> bool:
    """A question opener after any acknowledgement ("okay, can we..."), with words after it."""
    for index, token in enumerate(tokens):
        if not _listening(token):
            return token in QUESTION_OPENERS and index + 1 < len(tokens)
    return False


def _listening(token: str) -> bool:
    return token in LISTENING or token in SOFTENERS or MURMUR.match(token) is not None
