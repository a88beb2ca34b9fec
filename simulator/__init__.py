"""The caller simulator: scripted or persona-driven phone calls against the real responder and
thinker, offline by default, with a recording, transcript, events, metrics and a timeline per run
(``tandem demo``, ``tandem eval``)."""
