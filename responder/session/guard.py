"""Guardrails on the live call, at realtime pace (rules: :mod:`shared.guardrails`).

* Caller side: each final transcript is checked as it arrives, beside the conversation (the
  rules take microseconds; a configured classifier runs as a background task). A ``redirect``
  hit becomes guidance through the floor arbiter: the agent declines and steers back with the
  profile's redirect line. An ``end_call`` hit (a threat), or :data:`ABUSE_LIMIT` abuse hits in
  one call, end it: a short closing line, then the call ends (cut if that is not heard in time).
* Agent side, where the agent's text exists before its audio (the half-cascade and offline
  profiles): :meth:`CallGuard.gate` holds the text back one sentence at a time and drops a
  sentence a rule objects to before it is synthesized. With the audio realtime model the text
  is the transcript of audio already playing: :meth:`CallGuard.watch` checks it as it streams,
  and a hit interrupts the agent and has it correct itself.
* Thinker side: results are cleaned by the thinker before they are published
  (:mod:`thinker.guard`); the rules that fired there arrive with the result and are journalled
  here like every other hit.

Every hit is a journal event ``("guardrail", "hit", side=, rule=, action=, severity=, reason=)``;
the text is never in it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Literal

from responder import prompts
from responder.floor import Priority, Utterance
from responder.session.closing import Emit, GracefulClose
from shared.guardrails import Guardrails, Hit, Side, complete_sentences

log = logging.getLogger("tandem.responder.guard")

SOURCE = "guardrail"
ABUSE_LIMIT = 3
"""Abuse hits in one call after which the agent ends it."""
Gating = Literal["gate", "watch"]


class CallGuard:
    """The guardrails of one call: caller transcripts in, agent text out."""

    def __init__(
        self,
        guardrails: Guardrails,
        *,
        redirect_line: str,
        post: Callable[[Utterance], None],
        emit: Emit,
        end_call: Callable[[str], None],
        closing_grace_s: float,
    ) -> None:
        """``redirect_line``: what the agent says to steer back (the profile's);
        ``closing_grace_s``: how long the closing line of an ended call may take."""
        self.guardrails = guardrails
        self._redirect_line = redirect_line
        self._post = post
        self._emit = emit
        self._abuse = 0
        self._redirect_pending: Utterance | None = None
        self._classifying: set[asyncio.Task[None]] = set()
        self._close = GracefulClose(
            source=SOURCE,
            reason="guardrail",
            hard_stop_reason="guardrail",
            grace_s=closing_grace_s,
            post=post,
            emit=emit,
            end_call=end_call,
            clock=time.monotonic,
        )

    async def aclose(self) -> None:
        """Stop the classifier's checks and the closing timer."""
        for task in list(self._classifying):
            task.cancel()
        await self._close.aclose()

    # -- caller side ------------------------------------------------------------------------

    def caller_said(self, text: str) -> None:
        """Check a final transcript of the caller (never blocks the call)."""
        if not text.strip() or self._close.begun:
            return
        self._act(self.guardrails.check("caller", text))
        if self.guardrails.classifier is not None:
            task = asyncio.get_running_loop().create_task(self._classify("caller", text))
            self._classifying.add(task)
            task.add_done_callback(self._classifying.discard)

    async def _classify(self, side: Side, text: str) -> None:
        self._act(await self.guardrails.classify(side, text))

    def _act(self, hits: list[Hit]) -> None:
        for hit in hits:
            self.record(hit)
        if self._close.begun or not hits:
            return
        if hit_ends_call := next((h for h in hits if h.action == "end_call"), None):
            self._end(hit_ends_call)
            return
        if any(h.rule == "abuse" for h in hits):
            self._abuse += 1
            if self._abuse >= ABUSE_LIMIT:
                self._end(next(h for h in hits if h.rule == "abuse"))
                return
        redirect = next((h for h in hits if h.action == "redirect"), None)
        if redirect is not None:
            self._redirect(redirect)

    def _redirect(self, hit: Hit) -> None:
        pending = self._redirect_pending
        if pending is not None and pending.attempts == 0:
            return  # one redirect waiting for the floor is enough
        line = self._redirect_line.replace("{business}", self.guardrails.context.business)
        utterance = Utterance(
            kind="guidance",
            priority=Priority.GUIDANCE,
            instructions=prompts.redirect_instructions(hit.reason, line),
            repeat_if_cut=False,
        )
        self._redirect_pending = utterance
        self._post(utterance)

    def _end(self, hit: Hit) -> None:
        self._emit(SOURCE, "closing", rule=hit.rule, reason=hit.reason)
        self._close.begin(prompts.END_AFTER_ABUSE, kind="safety")

    # -- agent side -------------------------------------------------------------------------

    async def gate(self, text: AsyncIterable[str], *, record: bool = True) -> AsyncIterator[str]:
        """``text`` (the agent's, before synthesis) one sentence at a time, each checked first:
        a sentence a rule objects to is left out (at most one sentence is held back).
        ``record``: journal the hits (one of two gates over the same text records them)."""
        buffer, gap = "", ""
        async for chunk in text:
            buffer += chunk
            sentences, buffer = complete_sentences(buffer)
            for sentence in sentences:
                if self._agent_may_say(sentence, record=record):
                    yield gap + sentence
                    gap = " "
        if buffer.strip() and self._agent_may_say(buffer, record=record):
            yield gap + buffer

    async def watch(
        self, text: AsyncIterable[str], *, correct: Callable[[], None]
    ) -> AsyncIterator[str]:
        """``text`` (the transcript of agent audio as it streams) passed on unchanged, checked
        a sentence at a time; on a hit ``correct`` is called once (interrupt and correct)."""
        buffer = ""
        corrected = False
        async for chunk in text:
            yield chunk
            if corrected:
                continue
            buffer += chunk
            sentences, buffer = complete_sentences(buffer)
            if any(not self._agent_may_say(s, record=True) for s in sentences):
                corrected = True
                correct()
        if not corrected and buffer.strip() and not self._agent_may_say(buffer, record=True):
            correct()

    def correction(self) -> Utterance:
        """What the agent says after being interrupted for a sentence it should not have
        said (posted ``URGENT``: it cuts the rest of that speech)."""
        return Utterance(
            kind="correction",
            priority=Priority.URGENT,
            instructions=prompts.CORRECT_YOURSELF,
            repeat_if_cut=False,
        )

    def _agent_may_say(self, sentence: str, *, record: bool) -> bool:
        hits = self.guardrails.check("agent", sentence)
        if record:
            for hit in hits:
                self.record(hit)
        return not hits

    # -- every side ---------------------------------------------------------------------------

    def record(self, hit: Hit) -> None:
        """Journal ``hit`` (never its text)."""
        self._emit(
            SOURCE,
            "hit",
            side=hit.side,
            rule=hit.rule,
            action=hit.action,
            severity=hit.severity,
            reason=hit.reason,
        )
        log.info(
            "guardrail hit",
            extra={"side": hit.side, "rule": hit.rule, "action": hit.action},
        )

    def thinker_rules(self, rules: list[str]) -> None:
        """Journal the rules the thinker applied to a result before publishing it."""
        for rule in rules:
            self._emit(SOURCE, "hit", side="thinker", rule=rule, action="cleaned")
