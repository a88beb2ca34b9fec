"""A non-streaming STT made streaming with a VAD, transcribing while the VAD still waits.

LiveKit's ``stt.StreamAdapter`` transcribes an utterance once the VAD has declared its end, which
is only after the VAD's whole end-of-speech silence (0.3 s offline). :class:`SpeculativeSTT` starts
transcribing as soon as the caller has paused for ``speculate_after_s``: if the pause turns out to
be the end of the turn, the transcript is ready (or nearly) when the VAD ends the speech; if the
caller speaks again, that guess is dropped and the utterance is transcribed whole as usual. The
silence the VAD waits out is spent transcribing instead of idling. Each final transcript's
``start_time`` and ``end_time`` say where its speech was in the stream (seconds of audio since the
stream began, as LiveKit's streaming STTs give them), so its listener knows how long the caller
spoke::

    stt = SpeculativeSTT(stt=WhisperSTT(), vad=silero.VAD.load(min_silence_duration=0.3))
    session = AgentSession(stt=stt, vad=..., ...)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.stt import STTCapabilities
from livekit.agents.stt.stream_adapter import DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

log = logging.getLogger("tandem.responder.offline")

SPECULATE_AFTER_S = 0.1
"""The pause after which a transcript is started: long enough that a soft last syllable is in,
short enough to leave most of the VAD's end-of-speech silence to the transcription."""


class SpeculativeSTT(stt.STT[Any]):
    """``stt`` (non-streaming) as a streaming STT, its utterances cut by ``vad``, transcribed
    from the first ``speculate_after_s`` of each pause. Final transcripts only, one per utterance,
    exactly as ``stt.StreamAdapter`` gives them."""

    def __init__(
        self, *, stt: stt.STT[Any], vad: vad.VAD, speculate_after_s: float = SPECULATE_AFTER_S
    ) -> None:
        super().__init__(capabilities=STTCapabilities(streaming=True, interim_results=False))
        self._stt = stt
        self._vad = vad
        self._speculate_after_s = speculate_after_s
        self._stt.on("metrics_collected", self._forward_metrics)

    @property
    def wrapped_stt(self) -> stt.STT[Any]:
        """The STT that transcribes."""
        return self._stt

    @property
    def model(self) -> str:
        """The wrapped STT's model."""
        return self._stt.model

    @property
    def provider(self) -> str:
        """The wrapped STT's provider."""
        return self._stt.provider

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        return await self._stt.recognize(
            buffer=buffer, language=language, conn_options=conn_options
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        """A stream that transcribes each utterance the VAD finds in the pushed audio."""
        return _SpeculativeStream(self, language=language, conn_options=conn_options)

    def prewarm(self) -> None:
        """Prewarm the wrapped STT."""
        self._stt.prewarm()

    async def aclose(self) -> None:
        """Stop forwarding the wrapped STT's metrics."""
        self._stt.off("metrics_collected", self._forward_metrics)

    def _forward_metrics(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)


@dataclass
class _Guess:
    """A transcript started during a pause; it stands while the pause lasts."""

    task: asyncio.Task[stt.SpeechEvent]
    standing: bool = True


class _SpeculativeStream(stt.RecognizeStream):
    def __init__(
        self,
        owner: SpeculativeSTT,
        *,
        language: NotGivenOr[str],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(stt=owner, conn_options=DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS)
        self._owner = owner
        self._language = language
        self._wrapped_conn_options = conn_options
        self._speech: list[rtc.AudioFrame] = []
        self._guess: _Guess | None = None

    async def _run(self) -> None:
        vad_stream = self._owner._vad.stream()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                else:
                    vad_stream.push_frame(item)
            vad_stream.end_input()

        async def transcribe() -> None:
            async for event in vad_stream:
                await self._on_vad(event)

        tasks = [asyncio.create_task(forward_input()), asyncio.create_task(transcribe())]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()
            if self._guess is not None:
                await utils.aio.cancel_and_wait(self._guess.task)

    async def _on_vad(self, event: vad.VADEvent) -> None:
        if event.type == vad.VADEventType.START_OF_SPEECH:
            self._speech = list(event.frames)
            self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
        elif event.type == vad.VADEventType.INFERENCE_DONE and self._speech:
            self._speech.extend(event.frames)
            self._follow_pause(event.raw_accumulated_silence)
        elif event.type == vad.VADEventType.END_OF_SPEECH:
            speech_end_time = time.time() - event.silence_duration - event.inference_duration
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time
                )
            )
            await self._final_transcript(event.frames, speech_end_time, _speech_span(event))
            self._speech = []

    def _follow_pause(self, silence_s: float) -> None:
        """``silence_s``: the pause so far, up to the window before this event's."""
        if self._guess is not None and silence_s == 0.0:
            self._guess.standing = False  # the caller spoke again: the guess is short
        if silence_s < self._owner._speculate_after_s:
            return
        if self._guess is None or (not self._guess.standing and self._guess.task.done()):
            task = asyncio.create_task(self._recognize(utils.merge_frames(self._speech)))
            task.add_done_callback(_retrieve)  # a dropped guess's failure is nobody's business
            self._guess = _Guess(task)

    async def _final_transcript(
        self, frames: list[rtc.AudioFrame], speech_end_time: float, span: tuple[float, float]
    ) -> None:
        """Send the utterance's transcript (none if nothing was heard), stamped with ``span``:
        where its speech starts and ends in the stream, in seconds."""
        guess, self._guess = self._guess, None
        result: stt.SpeechEvent | None = None
        if guess is not None and guess.standing:
            with contextlib.suppress(Exception):  # a failed guess: transcribe again, below
                result = await guess.task
        log.debug("end of speech", extra={"guess_used": result is not None})
        if result is None:
            result = await self._recognize(utils.merge_frames(frames))
        if not result.alternatives or not result.alternatives[0].text:
            return
        start_time, end_time = span
        heard = dataclasses.replace(
            result.alternatives[0], start_time=start_time, end_time=end_time
        )
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                alternatives=[heard],
                speech_end_time=result.speech_end_time or speech_end_time,
            )
        )

    async def _recognize(self, frames: rtc.AudioFrame) -> stt.SpeechEvent:
        return await self._owner._stt.recognize(
            buffer=frames, language=self._language, conn_options=self._wrapped_conn_options
        )


def _speech_span(event: vad.VADEvent) -> tuple[float, float]:
    """Start and end of the speech an end-of-speech event closes, in seconds of the stream (the
    VAD's clock: audio pushed so far), without the silence that ended it: how long the caller
    spoke, for telling a backchannel from a barge-in."""
    end = max(event.timestamp - event.silence_duration, 0.0)
    return max(end - event.speech_duration, 0.0), end


def _retrieve(task: asyncio.Task[stt.SpeechEvent]) -> None:
    if not task.cancelled():
        task.exception()
