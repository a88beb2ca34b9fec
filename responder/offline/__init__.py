"""The offline speech profile: local speech-to-text and text-to-speech with no network.

Both run on the CPU with weights that ship inside registry packages, so they work on air-gapped
machines and in CI: :class:`WhisperSTT` (Whisper tiny.en via faster-whisper) and
:class:`HibariTTS` (the hibari "heart" voice). Both are livekit-agents plugins an
``AgentSession`` takes as ``stt=`` and ``tts=``; :class:`OfflineFrontDesk` is the rule-based
``llm.LLM`` standing in for a language model for any profile (it is not one, and the logs say
so); a profile may bring a richer one of its own.
:class:`SpeculativeSTT` streams a non-streaming STT like Whisper, transcribing during the VAD's
end-of-speech silence.

Whisper, its weights and hibari come with the ``demo`` extra (``pip install
'tandem-voice[demo]'``), which a production worker does not need: this package imports without
them, and :func:`require_demo_extra` (also called by ``WhisperSTT()`` and ``HibariTTS()``) raises
a one-line :class:`~shared.errors.ConfigError` when they are missing.
"""

from responder.offline._extra import require_demo_extra
from responder.offline.brain import OfflineFrontDesk
from responder.offline.hibari_tts import HibariTTS
from responder.offline.speculative_stt import SpeculativeSTT
from responder.offline.whisper_stt import WhisperSTT

__all__ = ["HibariTTS", "OfflineFrontDesk", "SpeculativeSTT", "WhisperSTT", "require_demo_extra"]
