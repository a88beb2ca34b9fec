"""Rules on what the caller said (STT transcripts: lower case, little punctuation, words as
spoken): attempts at the agent's instructions, abuse and threats, off-domain topics."""

from __future__ import annotations

import functools
import re

from shared.guardrails._patterns import APOSTROPHE as A
from shared.guardrails._patterns import FLAGS, first_span, hits, phrases
from shared.guardrails._types import Hit, RuleContext, Side
from shared.profile import OffDomainTopic

_CALLER: frozenset[Side] = frozenset({"caller"})

_YOUR_SETUP = (
    r"(?:system|hidden|secret|internal|original|initial|first|underlying|exact|full) "
    r"(?:prompt|instructions?|rules|guidelines|programming|configuration|directives)"
)
_EXTRACTION = phrases(
    r"system prompts?",
    r"(?:ignore|disregard|forget|override|bypass|drop) (?:all |any |of |the |your |my |these |"
    r"those )*(?:previous |prior |above |earlier |original |initial |existing |current |old )?"
    r"(?:instructions|prompts?|programming|guidelines|directives|rules you (?:were|have been) "
    r"given|rules)",
    rf"(?:what{A}s|what (?:is|are|were)|tell me|show me|read (?:me )?|give me|repeat|print|"
    rf"reveal|share|recite|say|spell out) (?:out )?(?:back )?(?:to me )?(?:all )?(?:of )?"
    rf"(?:your|the) {_YOUR_SETUP}",
    rf"(?:what{A}s|what (?:is|are|were)|tell me|show me|read me|give me|repeat|reveal|recite) "
    rf"(?:all )?(?:of )?your (?:instructions|prompt|programming|directives)",
    r"(?:repeat|read|say|print) (?:back )?(?:all )?(?:of )?(?:the |everything |all )?"
    r"(?:text|words|stuff|everything|messages?)? ?(?:above|before this|that came before|"
    r"you were given)",
    r"you are now (?:dan|an? unrestricted|unfiltered|jailbroken|free|in \w+ mode)|you{A}re now "
    r"(?:dan|an? unrestricted|unfiltered|jailbroken|free)",
    r"(?:dan|developer|god|jailbreak|unrestricted) mode|jailbreak|do anything now",
    r"(?:pretend|imagine|act (?:like|as if)|suppose) (?:that )?you (?:have|had|don'?t have|"
    r"didn'?t have) (?:no|any) (?:rules|restrictions|instructions|limits|guidelines|filters)",
    r"what (?:were|have) you been (?:told|instructed|programmed) to (?:say|do)|what were you "
    r"(?:told|instructed|programmed) to (?:say|do)|what did (?:they|your \w+) tell you to say",
    r"how (?:were|are) you (?:programmed|prompted|instructed|configured)",
    r"(?:from now on|starting now) you (?:are|will|must|have to)",
    r"new instructions",
)

_THREAT_SUBJECT = rf"(?:i{A}m|i am|im|i will|i{A}ll|ill|i{A}m gonna|gonna|going to|i{A}m going to)"
_THREAT_VERB = (
    r"(?:kill|murder|shoot|stab|hurt|beat up|beat the \w+ out of|strangle|burn down|blow up)"
)
_THREAT_OBJECT = (
    r"(?:you|ya|u|him|her|them|someone|somebody|anyone|everyone|everybody|y'?all|the place|"
    r"the shop|the business|your (?:\w+ )?(?:staff|shop|store|business|place|family|"
    r"manager|boss|kids|workers))"
)
_THREATS = phrases(
    rf"{_THREAT_SUBJECT} (?:\w+ ){{0,4}}{_THREAT_VERB} {_THREAT_OBJECT}",
    rf"(?:there{A}s|there is|i (?:have|put|planted|left)|i{A}ll (?:bring|plant|set off)|"
    r"(?:planted|placed|hidden) (?:a )?) ?(?:an? )?(?:bomb|explosive|explosives|device)",
    r"i know where you (?:live|work)",
    rf"you{A}re dead|you are dead|you{A}d better watch your back|watch your back",
    rf"i{A}ll (?:come|go) (?:down |over |round |up )?(?:there )?and (?:\w+ ){{0,2}}"
    rf"(?:hurt|kill|shoot|stab|beat|smash)",
)
_INSULT = (
    r"(?:idiot|idiots|stupid|moron|morons|useless|dumb|pathetic|worthless|incompetent|"
    r"retard|retarded|bitch|asshole|arsehole|bastard|prick|dickhead|twat|cunt|clown|loser|"
    r"piece of (?:shit|crap|garbage|junk)|waste of space|joke)"
)
_INSULTS = phrases(
    rf"(?:you{A}re|you are|youre|ur|you|ya) (?:such |so |a |an |the |absolutely |completely |"
    r"totally |really |fucking |bloody |damn |effing |freaking |most |biggest ){0,3}" + _INSULT,
    r"(?:are you|r u) (?:\w+ )?(?:stupid|dumb|an idiot|a moron|thick|brain\s?dead|retarded)",
    r"(?:stupid|dumb|useless|fucking|bloody|damn|effing|worthless|idiot|crappy|shitty) "
    r"(?:robot|bot|machine|computer|ai|assistant|program)",
    r"(?:fuck|screw|f) (?:you|u|off|yourself)|go to hell|go fuck yourself|get fucked|"
    r"shut (?:the fuck |the hell |your mouth |your face )?up|stfu|eat shit",
    r"(?:what a|what an) (?:useless|stupid|incompetent|pathetic) (?:\w+ )?(?:service|bot|robot|"
    r"machine|assistant|person|idiot|place)",
)


class InstructionExtraction:
    """A caller trying to get the agent's instructions or to override them ("ignore your
    previous instructions", "what's your system prompt", "you are now DAN")."""

    name = "instruction_extraction"
    sides = _CALLER

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """Redirect on any attempt."""
        return hits(
            first_span(_EXTRACTION, text),
            rule=self.name,
            side="caller",
            action="redirect",
            severity="low",
            reason="asks for or overrides the agent's instructions",
        )


class CallerAbuse:
    """Threats of violence (end the call) and insults aimed at the agent or the staff
    (redirect); swearing about a situation ("this damn bike") is neither."""

    name = "abuse"
    sides = _CALLER

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """A threat first (one is enough), else the first insult."""
        threat = first_span(_THREATS, text)
        if threat:
            return hits(
                threat,
                rule=self.name,
                side="caller",
                action="end_call",
                severity="high",
                reason="threat of violence",
            )
        return hits(
            first_span(_INSULTS, text),
            rule=self.name,
            side="caller",
            action="redirect",
            severity="low",
            reason="insult aimed at the agent",
        )


class OffDomain:
    """A request about one of the profile's off-domain topics, by its keywords (whole words;
    a phrase matches however STT spaces or hyphenates it)."""

    name = "off_domain"
    sides = _CALLER

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """The first topic whose keyword is said."""
        for topic, pattern in _topic_patterns(ctx.off_domain):
            match = pattern.search(text)
            if match:
                return hits(
                    [match.span()],
                    rule=self.name,
                    side="caller",
                    action="redirect",
                    severity="low",
                    reason=f"off-domain topic: {topic}",
                )
        return []


@functools.lru_cache(maxsize=64)
def _topic_patterns(
    topics: tuple[OffDomainTopic, ...],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    compiled = []
    for topic in topics:
        words = [
            r"[\s-]+".join(re.escape(part) for part in re.split(r"[\s-]+", k.strip()))
            for k in topic.keywords
            if k.strip()
        ]
        if words:
            pattern = re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", FLAGS)
            compiled.append((topic.topic, pattern))
    return tuple(compiled)
