"""Answering-machine detection for outbound calls: did a person pick up, or a voicemail greeting,
a business's after-hours message, a phone menu or a carrier announcement?

LiveKit's ``livekit.agents.voice.amd.AMD`` asks a hosted LLM; this judge is deterministic, runs
offline in microseconds and says why (a reason such as ``leave_a_message``, never the words).
It reads speech-to-text transcripts: case, apostrophes and punctuation are ignored, and the cue
phrases allow the common mishearings ("leave a massage", "after the tune", "voice male").

How a transcript is read, first match wins:

1. **strong machine cues** ("leave a message", "after the tone", "the number you have dialed",
   "mailbox is full", "press one", "record your message", call screening): ``machine``. A person
   passing on a message ("can I take a message", "leave a message with my wife", "would you like
   to leave a message") switches the "leave a message" cue off, not the others.
2. **human cues**: offering to take a message, a question to the caller ("who's calling?", "how
   can I help?"): ``human``.
3. **two or more weak machine cues** ("you've reached", "can't come to the phone", "I'll get
   back to you", "our office hours", "thank you for calling"...): ``machine``. One alone is
   something a receptionist says too, so it only makes a short or middling utterance ``unsure``.
4. **a short utterance** (at most :data:`SHORT_WORDS` words), "... speaking", or a middling one
   that opens like an answer ("hello, yes, this is Sam ...") or asks something: ``human``.
5. **a long first utterance** (:data:`MONOLOGUE_WORDS` words or :data:`MONOLOGUE_S` seconds)
   without any of the above: ``unsure`` (``long_monologue``). :class:`VoicemailScreen` settles
   ``machine`` on it only once the speech has gone on for :data:`SCREEN_MONOLOGUE_S` seconds
   (:data:`SCREEN_HINTED_MONOLOGUE_S` with one weak cue).

Precision over recall: hanging up on (or leaving a recorded message for) a person is worse than
the agent talking to a voicemail, so a cue counts as a machine's only where a person answering
the phone would hardly say it. Known costs of that choice: a greeting that names no telltale
phrase ("Hey, it's Leo, text me instead") stays ``unsure`` until it runs long; a greeting that
pauses after "Hi, this is Dana." and then says nothing telltale reads as a person once the agent
has answered it or the screen times out; and a person who answers "can't talk, leave me a
voicemail" reads as a machine (they asked for a message, which is what the agent then leaves).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["machine", "human", "unsure"]
"""What answered: a machine, a person, or not known yet."""

SHORT_WORDS = 6
"""An utterance of at most this many words with no machine cue is a person answering ("Hello?",
"Yeah, this is Sam", "Harbor Bikes, how can I help?"): greetings are longer."""

MONOLOGUE_WORDS = 18
"""A first utterance of this many words or more, with no cue either way, is a long monologue: a
weak sign of a greeting, as a person who picks up usually says a few words and waits."""

MONOLOGUE_S = 5.0
"""Seconds of speech from which a first utterance is a long monologue (see
:data:`MONOLOGUE_WORDS`)."""

SCREEN_MONOLOGUE_S = 10.0
"""Seconds of speech, with no cue at all and no question, after which :class:`VoicemailScreen`
settles ``machine`` on a monologue. High on purpose: a person who recognises the caller may talk
for 8 s straight; hardly anyone for 10 s before the other side says a word."""

SCREEN_HINTED_MONOLOGUE_S = 6.0
"""As :data:`SCREEN_MONOLOGUE_S` for a monologue carrying one weak machine cue."""

SCREEN_S = 12.0
"""Default seconds after the answer when the screen gives up and settles ``human``."""

_MIDDLING_SPEAKING_WORDS = 12
""""... speaking" marks a person in an utterance up to this long."""


@dataclass(frozen=True)
class Judgement:
    """A verdict and a short, machine-readable reason (never the transcript: personal data)."""

    verdict: Verdict
    reason: str


def _rx(*patterns: str) -> re.Pattern[str]:
    """Any of ``patterns`` as whole words of a normalised transcript (see :func:`_normalise`)."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(rf"(?<![a-z0-9])(?:{joined})(?![a-z0-9])")


def _normalise(text: str) -> str:
    """Lower case, apostrophes dropped ("you've" → "youve"), other punctuation to single spaces."""
    text = re.sub(r"['\u2019\u2018`]", "", text.lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


# Mishearings STT makes of the words greetings are built on.
_LEAVE = r"(?:leave|leaf|leaving)"
_MESSAGE = r"(?:message|messages|massage|messege|mesage|msg|voice ?mail|voice ?male|voice message)"
_TONE = r"(?:tone|tones|tune|tome|toan|beep|beeps|bleep|peep)"
_AFTER_TONE = r"(?:tone|tones|tune|tome|toan|beep|beeps|bleep|peep|beat|signal)"
_VOICEMAIL = (
    r"(?:voice ?mail|voice ?male|voice ?mails|voice messaging system|voice message system|"
    r"voice message service|message (?:center|centre|bank))"
)
_DIGIT = (
    r"(?:[0-9]|zero|one|two|three|four|five|six|seven|eight|nine|pound|star|hash|"
    r"the (?:pound|star|hash) key)"
)
_CARRIER_WHO = (
    r"(?:number|party|person|subscriber|customer|mobile|cellular customer|wireless customer|"
    r"mobile customer|user|extension)"
)

_STRONG: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "carrier_announcement",
        _rx(
            rf"{_CARRIER_WHO} (?:that )?(?:you|youre|you re)(?: have| are| were| re)? "
            r"(?:dial|dialed|dialled|dialing|called|calling|trying to reach|trying to call|reached)"
            r"(?: \w+){0,2} (?:is|has|was|cannot|can not|does)(?: \w+){0,2} (?:not|no|busy|"
            r"switched|disconnected|unavailable|temporarily|out of)",
            r"(?:not|no longer) (?:in )?service",
            r"not a working number",
            r"(?:number|line) (?:that )?(?:has been|is|was|has) (?:\w+ )?disconnected",
            r"calls? (?:cannot|can not|could not) be (?:completed|connected)",
            r"check the number and (?:try|dial|call)",
            r"all circuits are busy",
            r"not accepting (?:any )?calls",
            r"(?:is|are) (?:currently )?(?:switched off|out of (?:the )?coverage|not reachable|"
            r"unreachable)",
        ),
    ),
    (
        "mailbox_full",
        _rx(
            r"mail ?box(?: \w+){0,4} (?:is |was )?(?:full|not (?:been |yet )?set ?up|"
            r"(?:has|have) not been set ?up|hasnt been set ?up|not accepting)",
            r"(?:cannot|can not|cant|unable to|not able to) (?:accept|receive|take|record)"
            r"(?: any| new| more)* messages",
            rf"(?:has|have) not (?:yet )?set up (?:their|his|her|a|the) (?:{_VOICEMAIL}|mail ?box)",
        ),
    ),
    (
        "voicemail",
        _rx(
            rf"(?:reached|reach|reach to|this is|welcome to|forwarded to|transferred to|sent to|"
            rf"connected to|you are at) (?:the |a |an |my |our )?(?:automated |automatic |"
            rf"personal )?{_VOICEMAIL}",
            rf"(?:the|this|my) {_VOICEMAIL}(?: ?box)? (?:of|for)",
            r"voice ?ma(?:i|y)?le? ?box",
        ),
    ),
    (
        "after_the_tone",
        _rx(
            rf"(?:after|following) (?:the )?(?:sound of (?:the )?)?{_AFTER_TONE}",
            rf"at the (?:sound of (?:the )?)?{_TONE}",
            rf"(?:when you hear|wait for|until you hear) the {_TONE}",
        ),
    ),
    (
        "record_message",
        _rx(
            r"record (?:your|a) (?:\w+ )?(?:message|name)",
            r"(?:begin|start) (?:recording|speaking|your message) (?:after|at|when)",
            r"when (?:you are|youre|you have|you re) (?:finished|done)(?: recording| speaking)?"
            r"(?: you may| please| simply)? (?:hang up|press)",
            r"when finished you may hang up",
        ),
    ),
    (
        "keypad_menu",
        _rx(
            rf"(?:press|push|dial) {_DIGIT}",
            r"(?:know|have) (?:your |the )?(?:partys |party s |persons )?extension",
            r"(?:please )?say \w+ or press",
        ),
    ),
    (
        "call_screening",
        _rx(
            r"(?:call )?screening (?:service|app|feature)|call screening",
            r"(?:say|state|tell me|record) your name and (?:the )?(?:reason|why|purpose|what)",
            r"(?:get|gets|receive) a (?:copy|transcript) of (?:this|the|your|what)",
        ),
    ),
    (
        "hold_queue",
        _rx(
            r"all (?:of )?our (?:agents|representatives|operators|staff|team members|lines|"
            r"associates) are (?:currently )?(?:busy|assisting|helping|on|with|engaged)",
            r"(?:this|your) call (?:may|will|might) be (?:recorded|monitored)",
            r"your call is important to us",
            r"next available (?:agent|representative|operator)",
        ),
    ),
    (
        "leave_a_message",
        _rx(
            rf"{_LEAVE} (?:me |us )?(?:your |a |an )?(?:brief |short |quick |detailed |little )?"
            rf"{_MESSAGE}",
            rf"live (?:me |us )?(?:your |a |an )(?:brief |short |quick |detailed |little )?"
            rf"{_MESSAGE}",
            rf"{_LEAVE} (?:me |us )?your (?:name|number|details|contact|phone number)",
            r"(?:stay|remain) on the line to (?:leave|record)",
            r"(?<!do )you know what to do(?! with| about| for| if| when| next)",
        ),
    ),
)
"""Phrases a person answering the phone would hardly say, by reason."""

_RELAYS = _rx(
    r"(?:can|could|shall|may) i take (?:a |your )?(?:message|number)",
    r"(?<!if )(?:would|do|did|will) you (?:like|want|wanna|need) (?:to )?leave",
    r"(?:can|could) you leave (?:a |your |me a )?(?:message|number|it|name) with",
    rf"{_LEAVE} (?:a |your )?(?:message|number|name|it|details)(?: \w+){{0,3}} with "
    r"(?:me|my|him|her|his|reception|someone|one of)",
    r"(?:ill|i will|i can) (?:make sure \w+ )?(?:pass (?:it|that|the message) on|let (?:him|her|"
    r"them) know|tell (?:him|her|them)|give (?:him|her|them) the message|have (?:him|her|them) "
    r"call)",
)
"""A person passing on a message: turns the ``leave_a_message`` cue off."""

_WEAK: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("youve_reached", _rx(r"(?:youve|you ve|you have|you|your|youre|you re|u) (?:reached|reach)")),
    (
        "unavailable",
        _rx(
            r"(?:cant|cannot|can not|unable to|not able to|couldnt|could not) (?:come to|get to|"
            r"answer|take|pick up|reach|make it to|respond to)(?: the| your| my| this)? (?:phone|"
            r"call|calls|line)",
            r"(?:cant|cannot|can not|unable to) (?:answer|pick up|talk) right now",
            r"(?:not|isnt|arent|is not|are not|im not|were not) (?:available|here|around|home|"
            r"at home|in|in the office|at (?:my|the|our) desk)(?: to take your call)? (?:right now|"
            r"at the moment|at this time|now|today|currently)",
            r"(?:is|are|im|i am|were|we are|currently) (?:either )?(?:away from|out of) (?:my |the "
            r"|our )?(?:desk|phone|office)",
            r"(?:on|in) (?:the other line|another call|another line)",
            r"(?:unavailable|not available) to (?:take|answer) (?:your|the|this) call",
            r"is (?:currently )?(?:unavailable|not available)",
        ),
    ),
    (
        "call_back",
        _rx(
            r"(?:get|call|ring|text) (?:you )?back(?: to you)? (?:as soon as|shortly|soon|right "
            r"away|when|at|within)",
            r"(?:return|returning) (?:your|the|all) calls?",
            r"(?:ill|i will|well|we will|someone will|somebody will|one of our \w+ will) (?:get "
            r"back to (?:you|ya)|call you back|return your call|be in touch|get in touch)",
            r"as soon as (?:i|we) (?:can|am able|possibly can|get)|as soon as possible",
        ),
    ),
    (
        "missed_call",
        _rx(
            r"(?:i|we|ive|weve|i ve) (?:missed|miss|have missed) (?:your|the) call"
            r"(?! (?:earlier|yesterday|before|this|last|the other))",
        ),
    ),
    (
        "business_hours",
        _rx(
            r"(?:office|business|opening|regular|normal|store|shop|clinic) hours",
            r"(?:is|are|were|we re) (?:currently |now )?closed",
            r"(?:outside|after) (?:of )?(?:our )?(?:normal |regular |business |office |opening )*"
            r"hours",
            r"next business day",
        ),
    ),
    ("thanks_for_calling", _rx(r"thank(?:s| you) for (?:calling|your call|contacting)(?! back)")),
    ("try_later", _rx(r"(?:try|call) (?:your call |back |us )?(?:again )?later")),
    ("emergency", _rx(r"if (?:this is|you have) an? (?:medical |urgent )?emergency")),
)
"""Phrases a greeting uses and a person might too: two together make a machine."""

_QUESTIONS = _rx(
    r"who (?:is|s) (?:this|calling|speaking|it|that)",
    r"whos (?:this|calling|speaking|it|that)",
    r"who am i (?:speaking|talking) (?:to|with)",
    r"who (?:may|shall|should) i say",
    r"may i ask who",
    r"how (?:can|may|could|might) (?:i|we) (?:help|direct|assist)",
    r"what can (?:i|we) do for you",
    r"(?:can|may) i help you",
    r"what (?:is|s) (?:this|it) (?:about|regarding|concerning)",
    r"whats (?:this|it) (?:about|regarding|concerning)",
    r"(?:can|could) you hear me",
    r"is (?:anyone|anybody|someone|somebody) there",
    r"are you there",
    r"what do you (?:need|want)",
    r"who (?:are you|do you want|did you want|are you looking for|are you after)",
)
"""A person asking the caller something: only a person expects an answer."""

_FILLERS = frozenset({"uh", "um", "er", "erm", "mm", "hm", "hmm", "oh", "ah", "so", "well"})
_OPENERS = frozenset(
    {
        "hello",
        "hullo",
        "allo",
        "hi",
        "hey",
        "hiya",
        "yes",
        "yeah",
        "yep",
        "yup",
        "ya",
        "yo",
        "good",
        "morning",
        "afternoon",
        "evening",
        "howdy",
        "speaking",
    }
)
"""First words of a person picking up (after fillers)."""


@dataclass(frozen=True)
class _Reading:
    """What :func:`_read` found in a transcript."""

    judgement: Judgement
    words: int
    weak: tuple[str, ...]
    asks: bool


def _read(text: str, speech_s: float | None) -> _Reading:
    """The rules of the module docstring, in order."""
    words = _normalise(text).split()
    norm = " ".join(words)
    asks = "?" in text

    def reading(verdict: Verdict, reason: str, weak: tuple[str, ...] = ()) -> _Reading:
        return _Reading(Judgement(verdict, reason), len(words), weak, asks)

    if not words:
        return reading("unsure", "no_speech")
    relayed = _RELAYS.search(norm) is not None
    for reason, pattern in _STRONG:
        if reason == "leave_a_message" and relayed:
            continue
        if pattern.search(norm):
            return reading("machine", reason)
    if relayed:
        return reading("human", "takes_message")
    if _QUESTIONS.search(norm):
        return reading("human", "question_to_caller")
    weak = tuple(reason for reason, pattern in _WEAK if pattern.search(norm))
    if len(weak) >= 2:
        return reading("machine", "+".join(weak), weak)
    long = len(words) >= MONOLOGUE_WORDS or (speech_s is not None and speech_s >= MONOLOGUE_S)
    if long:
        return reading("unsure", "long_monologue", weak)
    if weak:
        return reading("unsure", "machine_hint", weak)
    if len(words) <= SHORT_WORDS:
        return reading("human", "short_greeting")
    if "speaking" in words and len(words) <= _MIDDLING_SPEAKING_WORDS:
        return reading("human", "speaking")
    if asks:
        return reading("human", "question_to_caller")
    opener = next((w for w in words if w not in _FILLERS), "")
    if opener in _OPENERS:
        return reading("human", "greeting")
    return reading("unsure", "no_cue")


def judge_greeting(text: str, *, speech_s: float | None = None) -> Judgement:
    """The callee's speech so far since they answered (final transcripts joined with spaces) and
    how long they spoke in total (None if unknown): ``machine``, ``human`` or ``unsure``, with a
    reason. A long monologue with no cue is ``unsure`` here; :class:`VoicemailScreen` decides it
    by how long it goes on."""
    return _read(text, speech_s).judgement


_PROVISIONAL = frozenset({"short_greeting", "speaking", "greeting"})
"""Reasons a first final reads human on its length or first word alone: a greeting cut at a
pause ("Hey, it's Tom." … "You know what to do.") reads the same, so :class:`VoicemailScreen`
waits for the next final, a reply to the agent or its timeout before it settles on them."""


class VoicemailScreen:
    """Follows the first seconds of an answered outbound call: fed each final transcript of the
    callee (and how long that speech was), it settles on a verdict once: 'machine' as soon as the
    words say so; 'human' as soon as the words say so (a question to the caller, offering to take
    a message), when the agent and callee have exchanged a turn (the callee answered the agent),
    or when screen_s passed since the answer without a machine verdict. A short greeting alone
    does not settle it (see :data:`_PROVISIONAL`): a greeting cut at a pause starts the same."""

    def __init__(self, *, screen_s: float = SCREEN_S) -> None:
        self._screen_s = screen_s
        self._texts: list[str] = []
        self._speech_s: float | None = None
        self._agent_spoke = False
        self._settled: Judgement | None = None

    @property
    def settled(self) -> Judgement | None:
        """The verdict, once there is one."""
        return self._settled

    def heard(self, text: str, *, speech_s: float | None, at_s: float) -> Judgement | None:
        """One final transcript of the callee, ``at_s`` seconds after the answer; the verdict once
        settled (returned exactly once), else None."""
        if self._settled is not None:
            return None
        if text.strip():
            self._texts.append(text.strip())
            if speech_s is not None:
                self._speech_s = (self._speech_s or 0.0) + speech_s
            reading = _read(" ".join(self._texts), self._speech_s)
            verdict = reading.judgement
            if verdict.verdict == "machine":
                return self._settle(verdict)
            if self._agent_spoke:
                return self._settle(Judgement("human", "answered_agent"))
            if verdict.verdict == "human" and verdict.reason not in _PROVISIONAL:
                return self._settle(verdict)
            if self._monologue_is_machine(reading):
                return self._settle(Judgement("machine", "long_monologue"))
        return self.timed_out(at_s)

    def agent_spoke(self) -> None:
        """The agent said something to the callee: a reply from the callee after this settles
        'human' (unless the words are a machine's)."""
        self._agent_spoke = True

    def timed_out(self, at_s: float) -> Judgement | None:
        """Called by a timer: 'human' (reason 'screen_timeout') if screen_s passed and nothing was
        settled; None otherwise or if already settled."""
        if self._settled is not None or at_s < self._screen_s:
            return None
        return self._settle(Judgement("human", "screen_timeout"))

    def _monologue_is_machine(self, reading: _Reading) -> bool:
        """A long monologue, no question in it, gone on long enough (shorter with a weak cue)."""
        if reading.judgement.reason != "long_monologue" or reading.asks or self._speech_s is None:
            return False
        needed = SCREEN_HINTED_MONOLOGUE_S if reading.weak else SCREEN_MONOLOGUE_S
        return self._speech_s >= needed

    def _settle(self, judgement: Judgement) -> Judgement:
        self._settled = judgement
        return judgement
