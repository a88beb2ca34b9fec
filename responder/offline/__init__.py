"""The offline speech profile: local speech-to-text and text-to-speech with no network.

Both run on the CPU with weights that ship inside registry packages, so they work on air-gapped
machines and in CI: :class:`WhisperSTT` (Whisper tiny.en via faster-whisper) and
:class:`HibariTTS` (the hibari "heart" voice). Both are livekit-agents plugins an
``AgentSession`` takes as ``stt=`` and ``tts=``; :class:`FrontDeskBrain` is the rule-based
``llm.LLM`` standing in for a language model (it is not one, and the logs say so).
:class:`SpeculativeSTT` streams a non-streaming STT like Whisper, transcribing during the VAD's
end-of-speech silence.
"""

from responder.offline.brain import FrontDeskBrain
from responder.offline.hibari_tts import HibariTTS
from responder.offline.speculative_stt import SpeculativeSTT
from responder.offline.whisper_stt import WhisperSTT

__all__ = ["FrontDeskBrain", "HibariTTS", "SpeculativeSTT", "WhisperSTT"]
