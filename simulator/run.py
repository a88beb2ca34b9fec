"""One simulated call, end to end: the responder's call, put together by the same
:func:`~responder.assembly.assemble_call` a LiveKit job uses, on room-less audio; a real thinker
process; the scripted caller; and the run's artifacts.

The caller follows the scenario's steps, or, in persona mode (:class:`PersonaMode`), Claude plays
the scenario's persona after its goals, line by line, while a judge watches the goals.

``runs/<timestamp>-<scenario>/`` gets ``call.wav`` (caller left, agent right), ``transcript.md``,
``events.jsonl`` (the call's journal: every session, responder, thinker, session-stage,
guardrail and caller event), ``metrics.json``, ``timeline.png``, ``record.json`` (the call's
redacted record as the responder stored it, what ``tandem sessions`` reads) and the thinker's
log. The transcript, the timeline and the checks are built from the journal
(:func:`simulator.replay.record_from_journal`), the same way ``tandem sessions replay`` builds a
production call.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from anthropic import AsyncAnthropic

from responder.assembly import RoomlessAudio, assemble_call
from responder.call import Call
from responder.session.journal import SessionJournal
from responder.session.store import SessionStore
from responder.telephony.line import SipLine
from responder.telephony.phone import PhoneHookup
from shared.config import Settings
from shared.errors import UpstreamError
from shared.keys import Keys
from simulator.analysis import summarize
from simulator.audio_io import CallerAudioInput, CallRecorder, CapturingAudioOutput, PlayedSegment
from simulator.caller import AgentSpeech, CallerLine, ScriptedCaller, StepTimeout
from simulator.checks import CheckResult, evaluate, read_bookings
from simulator.judge import JudgeError, all_settled, judge_call
from simulator.persona import PersonaCaller, PersonaError
from simulator.phone import PhoneLine, line_name
from simulator.record import FLOOR_KINDS, AgentAudio, CallRecord
from simulator.replay import record_from_journal
from simulator.scenario import Scenario, Step
from simulator.stack import Stack, running_thinker
from simulator.timeline import render_timeline
from simulator.transcript import write_transcript
from simulator.voice import CallerVoice
from tools import ToolStore

EventListener = Callable[[dict[str, Any]], None]

SIMULATED_CALLER = PhoneHookup(SipLine(identity="simulated-caller", direction="inbound"))
"""A simulated call's phone line: an inbound caller, with no switchboard (transfers and keys
need LiveKit's server API and a room)."""
MAX_PERSONA_TURNS = 12
"""Most lines a persona caller says; after the last one is answered, the caller hangs up."""
PERSONA_PAUSE_MS = 700
"""Agent silence the persona caller waits for before its next line: a natural pause."""

HangUp = Literal["persona", "goals_settled", "max_turns"]
"""Why a persona call ended: the persona hung up, the judge settled every goal, or the persona
said its :data:`MAX_PERSONA_TURNS` lines."""


@dataclass
class RunResult:
    """A finished call: where its artifacts are, what it measured, which checks held."""

    scenario: Scenario
    directory: Path
    record: CallRecord
    metrics: dict[str, Any]
    checks: list[CheckResult]
    error: str | None = None
    """Why the call could not play out (a step's moment never came), if so."""

    @property
    def passed(self) -> bool:
        """Played out and every check held."""
        return self.error is None and all(check.passed for check in self.checks)


@dataclass
class _Spoken:
    segment: int
    started_at: float
    kind: str
    ended_at: float | None = None
    interrupted: bool = False
    played_s: float | None = None
    synthesized_s: float | None = None


@dataclass
class CallWatch:
    """The agent as the caller and the recorder see it: its speeches (with what the floor said
    each one was for) and whether it still has something to say."""

    call: Call
    speaker: CapturingAudioOutput
    spoken: list[_Spoken] = field(default_factory=list)
    _floor_kind: str | None = None

    def __post_init__(self) -> None:
        self.speaker.add_listener(self._on_segment)
        self.call.floor.listeners.append(self._on_floor)

    def speeches(self) -> list[AgentSpeech]:
        """Every agent speech so far."""
        return [
            AgentSpeech(s.started_at, s.ended_at, "answer" if s.kind == "result" else "other")
            for s in self.spoken
        ]

    def busy(self) -> bool:
        """Work running, an utterance waiting for the floor, or a reply being made."""
        return bool(
            self.call.delegator.tasks.running()
            or self.call.floor.pending
            or self.call.session.current_speech is not None
        )

    def tasks_submitted(self) -> int:
        """Tasks delegated so far."""
        return len(self.call.delegator.tasks.all())

    def _on_floor(self, what: str, utterance: Any) -> None:
        # a requested utterance names the next agent speech; one that settles first had none
        requested = what == "requested"
        self._floor_kind = FLOOR_KINDS.get(utterance.kind, utterance.kind) if requested else None

    def _on_segment(self, event: str, segment: PlayedSegment) -> None:
        if event == "started" and segment.started_at is not None:
            kind, self._floor_kind = self._floor_kind or "reply", None
            self.spoken.append(_Spoken(segment.index, segment.started_at, kind))
        elif event == "finished":
            for spoken in self.spoken:
                if spoken.segment == segment.index:
                    spoken.ended_at = segment.ended_at
                    spoken.interrupted = segment.interrupted
                    spoken.played_s = segment.samples_played / segment.sample_rate
                    spoken.synthesized_s = segment.samples_captured / segment.sample_rate


@dataclass(frozen=True)
class PersonaMode:
    """Play a call with Claude as the caller: ``model`` plays the scenario's ``persona`` after its
    ``goals`` instead of the scripted steps, and judges the goals as the call goes."""

    client: AsyncAnthropic
    model: str


class PersonaVoice(Protocol):
    """What the persona loop needs of the caller (a :class:`~simulator.caller.ScriptedCaller`)."""

    async def speak(self, step: Step) -> object:
        """Say ``step``'s words now and wait until they are out."""
        ...

    async def wait_until_agent_done(self, silence_ms: int) -> None:
        """Until the agent has answered, has nothing more coming and is silent ``silence_ms``."""
        ...


def run_directory(root: Path, scenario: Scenario) -> Path:
    """A fresh ``<root>/<timestamp>-<scenario>`` directory."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    directory = root / f"{stamp}-{scenario.name}"
    suffix = 1
    while directory.exists():
        suffix += 1
        directory = root / f"{stamp}-{scenario.name}-{suffix}"
    directory.mkdir(parents=True)
    return directory


async def run_call(
    stack: Stack,
    scenario: Scenario,
    voice: CallerVoice,
    directory: Path,
    *,
    listeners: list[EventListener] | None = None,
    persona: PersonaMode | None = None,
    phone: PhoneLine | None = None,
) -> RunResult:
    """Play ``scenario`` as one call and write its artifacts to ``directory``.

    The caller follows the scenario's steps, or with ``persona`` Claude plays the caller (see
    :func:`converse`; the scenario needs ``persona`` and ``goals``). Either way the scenario's
    checks are evaluated afterwards. A failed persona or judge request fails the run (its
    ``error``), as does a call outlasting ``timeout_s``. With ``phone`` the call is over that
    line: the caller's audio reaches the agent through :meth:`PhoneLine.carry`, the agent's
    side of ``call.wav`` is :meth:`PhoneLine.codec`'d, and the call is assembled as a phone
    call (the profile's phone greeting and ``[telephony.turns]``; no transfers or keys, which
    need LiveKit's server); ``metrics["line"]`` says which line.
    """
    prefix = f"sim-{uuid.uuid4().hex[:10]}"
    line = line_name(phone is not None)
    settings = _settings_for(stack.settings, prefix, scenario)
    session_id = f"{scenario.name}-{uuid.uuid4().hex[:8]}"

    async with running_thinker(
        stack, prefix=prefix, think_s=scenario.thinker.think_s, log_path=directory / "thinker.log"
    ):
        mic = CallerAudioInput(line=None if phone is None else phone.carry)
        speaker = CapturingAudioOutput()
        call = await assemble_call(
            settings,
            stack.models,
            session_id=session_id,
            audio=RoomlessAudio(mic, speaker),
            phone=None if phone is None else SIMULATED_CALLER,
        )
        # the call's own journal is the run's record: the caller's and the simulator's events
        # go into it beside the session's, the responder's and the thinker's
        journal = call.journal
        journal.handlers.extend(listeners or [])
        emit = journal.emit
        events = journal.events
        watch = CallWatch(call, speaker)
        caller = ScriptedCaller(mic, watch, voice, on_line=lambda line: _caller_line(line, emit))
        journal.start_clock()
        recorder = CallRecorder(
            mic,
            speaker,
            start_time=journal.origin,
            agent_line=None if phone is None else phone.codec,
        )
        error: str | None = None
        try:
            await call.start()
            emit(
                "simulator",
                "call_started",
                scenario=scenario.name,
                profile=stack.profile_name,
                caller="script" if persona is None else "persona",
            )
            play = (
                _play(caller, scenario)
                if persona is None
                else converse(caller, scenario, persona, events, emit)
            )
            await asyncio.wait_for(_until_hung_up(play, call, emit), scenario.timeout_s)
        except (StepTimeout, PersonaError, JudgeError, UpstreamError) as failure:
            error = str(failure)
        except TimeoutError:
            error = f"the call did not finish within {scenario.timeout_s:g} s"
        finally:
            end = time.monotonic()
            _journal_measurements(journal, watch, caller.lines, end)
            emit("simulator", "call_over", error=error)
            await call.aclose("caller hung up")
            await mic.aclose()
            await speaker.aclose()
        bookings = await read_bookings(ToolStore(stack.redis, prefix, "bookings"))
        responder_summary = call.metrics.summary()
    record = record_from_journal(scenario.name, events)
    metrics = summarize(record, events, responder_summary)
    checks = evaluate(scenario.checks, record=record, events=events, bookings=bookings)
    metrics["checks"] = {"passed": sum(c.passed for c in checks), "total": len(checks)}
    metrics["profile"] = stack.profile_name
    metrics["line"] = line
    if error is not None:
        metrics["error"] = error
    result = RunResult(scenario, directory, record, metrics, checks, error)
    stored = await SessionStore(stack.redis, Keys(prefix), 3600).load(session_id)
    await asyncio.to_thread(_write_artifacts, result, recorder, events, end)
    if stored is not None:  # the call's production record, as `tandem sessions` reads it
        record_file = directory / "record.json"
        text = json.dumps({"record": stored[0], "events": stored[1]}, indent=1, ensure_ascii=False)
        await asyncio.to_thread(record_file.write_text, text + "\n", encoding="utf-8")
    return result


async def _play(caller: ScriptedCaller, scenario: Scenario) -> None:
    await caller.run(scenario.steps)
    await caller.wait_until_agent_done(600)
    await asyncio.sleep(scenario.tail_s)


async def converse(
    caller: PersonaVoice,
    scenario: Scenario,
    mode: PersonaMode,
    events: list[dict[str, Any]],
    emit: Callable[..., object],
) -> HangUp:
    """The persona's side of the call, from the agent's greeting until the caller hangs up.

    In turn: wait for the agent to finish (:data:`PERSONA_PAUSE_MS` of silence), ask the persona
    for its next line on the transcript so far (read from ``events``: the caller's ``line`` and
    the agent's ``message`` events) and speak it. Once the agent has answered a line, the judge
    rules on the goals (``final=False``); the call ends when every goal is settled, when the
    persona hangs up, or after :data:`MAX_PERSONA_TURNS` lines. Emits each ruling
    (``simulator``/``goal_verdicts``) and the hang-up (``caller``/``hang_up`` with the reason);
    the lines are the caller's ``line`` events. Then the scenario's ``tail_s`` is recorded.
    """
    reason = await _persona_turns(caller, scenario, mode, events, emit)
    emit("caller", "hang_up", reason=reason)
    await asyncio.sleep(scenario.tail_s)
    return reason


async def _persona_turns(
    caller: PersonaVoice,
    scenario: Scenario,
    mode: PersonaMode,
    events: list[dict[str, Any]],
    emit: Callable[..., object],
) -> HangUp:
    persona = PersonaCaller(mode.client, mode.model, persona=scenario.persona, goals=scenario.goals)
    await caller.wait_until_agent_done(PERSONA_PAUSE_MS)  # the greeting
    for _ in range(MAX_PERSONA_TURNS):
        line = await persona.next_line(_said(events))
        if line is None:
            return "persona"
        await caller.speak(Step(say=line))
        await caller.wait_until_agent_done(PERSONA_PAUSE_MS)
        verdicts = await judge_call(
            mode.client, mode.model, goals=scenario.goals, transcript=_said(events), final=False
        )
        emit("simulator", "goal_verdicts", final=False, verdicts=[asdict(v) for v in verdicts])
        if all_settled(verdicts):
            return "goals_settled"
    return "max_turns"


def _said(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The call so far as ``(speaker, text)`` pairs in order: the caller's lines as spoken and
    the agent's messages (its greeting first)."""
    transcript: list[tuple[str, str]] = []
    for event in events:
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if event["source"] == "caller" and event["event"] == "line":
            transcript.append(("caller", text))
        elif event["event"] == "message" and event.get("role") == "agent":
            transcript.append(("agent", text))
    return transcript


def write_metrics(result: RunResult) -> None:
    """``metrics.json`` of a run: its metrics and each check's outcome (written again when a
    judge adds its verdicts)."""
    checks = [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in result.checks]
    (result.directory / "metrics.json").write_text(
        json.dumps({**result.metrics, "check_results": checks}, indent=2) + "\n", encoding="utf-8"
    )


def _settings_for(base: Settings, prefix: str, scenario: Scenario) -> Settings:
    """The call's settings: its own bus prefix, so runs never see each other's bookings, and
    the scenario's session budget if it sets one."""
    budget = scenario.session.model_dump(exclude_none=True)
    return base.model_copy(
        update={
            "bus": base.bus.model_copy(update={"prefix": prefix}),
            "session": base.session.model_copy(update=budget),
        }
    )


async def _until_hung_up(
    play: Coroutine[Any, Any, object], call: Call, emit: Callable[..., object]
) -> None:
    """Play the caller's side until it is done, or until the agent ends the call (the caller
    then hears the line go dead and stops)."""
    caller = asyncio.ensure_future(play)
    ended = asyncio.ensure_future(call.ended.wait())
    try:
        await asyncio.wait((caller, ended), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (caller, ended):
            task.cancel()
    if caller.done() and not caller.cancelled():
        caller.result()  # the caller's own failure (a step that never came) stands
        return
    emit("simulator", "agent_hung_up", reason=call.end_reason)


def _caller_line(line: CallerLine, emit: Callable[..., object]) -> None:
    emit("caller", "line", action=line.step.action, text=line.step.text)


def _journal_measurements(
    journal: SessionJournal, watch: CallWatch, lines: list[CallerLine], end: float
) -> None:
    """What the simulator's endpoints measured, into the call's journal (the record is built
    from it, see :mod:`simulator.replay`): each caller line as played (``caller``/``spoke``)
    and each stretch of agent audio (``simulator``/``agent_audio``), on the call clock; what
    still played at ``end`` ends there."""
    for line in lines:
        u = line.utterance
        if u.started_at is None:
            continue
        journal.emit(
            "caller",
            "spoke",
            start=round(journal.at(u.started_at), 3),
            end=round(journal.at(u.ended_at or end), 3),
            text=line.step.text,
            kind="backchannel" if line.step.action == "backchannel" else "line",
            interrupted=u.cancelled,
            heard=round(u.samples_sent / len(u.samples), 3) if len(u.samples) else 1.0,
        )
    for audio in _agent_audio(watch, journal, end):
        journal.emit("simulator", "agent_audio", **asdict(audio))


def _agent_audio(watch: CallWatch, clock: SessionJournal, end: float) -> list[AgentAudio]:
    """Each playback segment of the agent on the call clock, ending with its last sample."""
    chunks = watch.speaker.recorded_chunks
    found: list[AgentAudio] = []
    for spoken in watch.spoken:
        # audio paused by a barge-in stays "playing" until the framework cuts it: the speech
        # really ended with its last sample
        until = spoken.ended_at or end
        mine = [c for c in chunks if spoken.started_at - 0.01 <= c.start <= until]
        played = sum(c.end - c.start for c in mine)
        found.append(
            AgentAudio(
                round(clock.at(spoken.started_at), 3),
                round(clock.at(max((c.end for c in mine), default=until)), 3),
                played_s=spoken.played_s if spoken.played_s is not None else played,
                synthesized_s=spoken.synthesized_s if spoken.synthesized_s is not None else played,
                interrupted=spoken.interrupted,
                kind=spoken.kind,
            )
        )
    return found


def _write_artifacts(
    result: RunResult, recorder: CallRecorder, events: list[dict[str, Any]], end: float
) -> None:
    directory = result.directory
    recorder.write(directory / "call.wav", end_time=end)
    with (directory / "events.jsonl").open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False) + "\n")
    write_metrics(result)
    notes = [f"{'✓' if c.passed else '✗'} {c.name}: {c.detail}" for c in result.checks]
    if result.error:
        notes.insert(0, f"✗ {result.error}")
    write_transcript(
        result.record, directory / "transcript.md", title=result.scenario.name, notes=notes
    )
    render_timeline(result.record, directory / "timeline.png")
