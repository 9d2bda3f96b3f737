"""Render engine actions as TwiML, with the twilio library's builders only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather as GatherVerb
from twilio.twiml.voice_response import VoiceResponse

from callcenter.config import VoiceConfig
from callcenter.ivr.actions import (
    Action,
    Dial,
    Enqueue,
    Gather,
    Hangup,
    JoinConference,
    Leave,
    PlayAudio,
    Prompt,
    Record,
    Silence,
    Speak,
)
from callcenter.media.tts import PromptCache

RENDERED_KEPT = 2048
"""Answers kept rendered (the flows' menus at each step, the wait loop's messages)."""


def _personal(action: Action) -> bool:
    """Whether an action speaks caller data (an order's status, a balance)."""
    if isinstance(action, Speak):
        return action.personal
    if isinstance(action, Gather):
        return any(isinstance(prompt, Speak) and prompt.personal for prompt in action.prompts)
    return False


@dataclass(frozen=True)
class UrlBuilder:
    """Absolute callback URLs under the public base URL Twilio calls."""

    public_url: str

    def __call__(self, path: str, **params: object) -> str:
        query = urlencode({key: value for key, value in params.items() if value is not None})
        return f"{self.public_url}{path}" + (f"?{query}" if query else "")


class TwimlRenderer:
    """Turns engine actions into a TwiML document."""

    def __init__(
        self,
        urls: UrlBuilder,
        voices: Mapping[str, VoiceConfig],
        default_language: str,
        prompts: PromptCache | None = None,
    ) -> None:
        self.urls = urls
        self.voices = voices
        self.default_language = default_language
        self.prompts = prompts
        self._rendered: dict[tuple[object, ...], str] = {}

    def voice(self, language: str) -> VoiceConfig:
        return self.voices.get(language) or self.voices[self.default_language]

    def render(self, actions: Sequence[Action], call_sid: str = "", step: int = 0) -> str:
        """A complete <Response> for one webhook answer.

        The same actions at the same step render the same document (until the prompt
        cache is rescanned): it is built once and kept, unless a prompt carries caller
        data (those are never kept)."""
        if self.prompts is not None:
            self.prompts.refresh_if_changed()
        key = None
        if not any(map(_personal, actions)):
            key = (tuple(actions), step, self.prompts.revision if self.prompts else 0)
            body = self._rendered.get(key)
            if body is not None:
                return body
        response = VoiceResponse()
        for action in actions:
            self.add(response, action, step)
        body = str(response.to_xml())
        if key is not None:
            if len(self._rendered) >= RENDERED_KEPT:
                self._rendered.clear()  # rare: the flows' answers are far fewer
            self._rendered[key] = body
        return body

    def add(self, response: VoiceResponse, action: Action, step: int) -> None:
        if isinstance(action, Speak | PlayAudio | Silence):
            self.add_prompt(response, action)
        elif isinstance(action, Gather):
            self.add_gather(response, action, step)
        elif isinstance(action, Enqueue):
            response.enqueue(
                action.queue,
                action=self.urls(
                    "/twilio/queue/done", queue=action.queue, seq=step, call=action.call
                ),
                method="POST",
                wait_url=self.urls(
                    "/twilio/queue/wait", queue=action.queue, lang=action.language, call=action.call
                ),
                wait_url_method="POST",
            )
        elif isinstance(action, Record):
            response.record(
                action=self.urls(
                    "/twilio/voicemail/done", mailbox=action.mailbox, lang=action.language,
                    seq=step,
                ),
                method="POST",
                max_length=action.max_length,
                finish_on_key="#",
                play_beep=True,
                timeout=5,
                trim="trim-silence",
                recording_status_callback=self.urls("/twilio/recording", mailbox=action.mailbox),
                recording_status_callback_method="POST",
                recording_status_callback_event="completed absent",
            )  # fmt: skip
        elif isinstance(action, Dial):
            dial = response.dial(
                action=self.urls("/twilio/dial/done", flow=action.flow, node=action.node, seq=step),
                method="POST",
                timeout=action.timeout,
            )
            dial.number(action.number)
        elif isinstance(action, JoinConference):
            # With a survey, the leg goes on to it when the conference ends (Twilio requests
            # the <Dial>'s action; the caller hung up: the request says so, and is ignored).
            survey = action.survey_call
            dial = response.dial(
                action=self.urls("/twilio/survey", call=survey, seq=step) if survey else None,
                method="POST" if survey else None,
            )
            dial.conference(
                action.name,
                start_conference_on_enter=action.start_on_enter,
                end_conference_on_exit=action.end_on_exit,
                beep=False,
                status_callback=(
                    self.urls("/twilio/bridge/conference", call=action.name)
                    if action.events
                    else None
                ),
                status_callback_event="start end join leave" if action.events else None,
                status_callback_method="POST" if action.events else None,
            )
        elif isinstance(action, Leave):
            response.leave()
        elif isinstance(action, Hangup):
            response.hangup()
        else:  # pragma: no cover - every action kind is handled above
            raise TypeError(f"cannot render {action!r}")

    def add_prompt(self, parent: VoiceResponse | GatherVerb, prompt: Prompt) -> None:
        """Speak from the prompt cache when rendered ahead of time, else with <Say>."""
        if isinstance(prompt, Speak):
            if not prompt.text:
                return
            cached = None
            if self.prompts is not None and not prompt.personal:
                cached = self.prompts.url_for(prompt.text, prompt.language)
            if cached is not None:
                parent.play(self.urls(cached))
            else:
                voice = self.voice(prompt.language)
                parent.say(prompt.text, voice=voice.say_voice, language=voice.say_language)
        elif isinstance(prompt, PlayAudio):
            url = prompt.url if "://" in prompt.url else self.urls(prompt.url)
            parent.play(url)
        elif isinstance(prompt, Silence):
            parent.pause(length=prompt.seconds)

    def add_gather(self, response: VoiceResponse, action: Gather, step: int) -> None:
        speech = "speech" in action.input
        if action.callback_queue is not None:
            url = self.urls("/twilio/queue/callback", queue=action.callback_queue)
        elif action.survey_call is not None:
            url = self.urls(
                "/twilio/survey/answer", call=action.survey_call, question=action.node,
                attempt=action.attempt, seq=step,
            )  # fmt: skip
        else:
            url = self.urls(
                "/twilio/gather", flow=action.flow, node=action.node, attempt=action.attempt,
                seq=step,
            )  # fmt: skip
        gather = response.gather(
            input=" ".join(action.input),
            action=url,
            method="POST",
            timeout=action.timeout,
            num_digits=action.num_digits,
            finish_on_key=action.finish_on_key,
            action_on_empty_result=action.callback_queue is None,
            language=self.voice(action.language).recognition_language if speech else None,
            hints=", ".join(action.hints) if speech and action.hints else None,
            speech_timeout="auto" if speech else None,
        )  # fmt: skip
        for prompt in action.prompts:
            self.add_prompt(gather, prompt)
