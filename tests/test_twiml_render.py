"""The TwiML renderer keeps the documents it built: the same actions at the same step
answer the same, a prompt rendered into the cache since is played, and answers that speak
caller data are never kept."""

from __future__ import annotations

from pathlib import Path

from callcenter.config import VoiceConfig
from callcenter.ivr.actions import Gather, Hangup, Speak
from callcenter.media.tts import PromptCache
from callcenter.telephony.twiml import TwimlRenderer, UrlBuilder

VOICES = {"en": VoiceConfig(say_voice="Polly.Joanna", say_language="en-US", gtts_lang="en")}
URL = "https://cc.example.test"


def renderer(cache_dir: Path) -> tuple[TwimlRenderer, PromptCache]:
    prompts = PromptCache(cache_dir, VOICES)
    return TwimlRenderer(UrlBuilder(URL), VOICES, "en", prompts), prompts


def test_the_same_actions_answer_the_same_and_the_step_is_in_the_urls(tmp_path: Path) -> None:
    render, _ = renderer(tmp_path)
    menu = [Gather("main", "menu", 1, (Speak("Press 1.", "en"),), "en")]
    first = render.render(menu, step=1)
    assert render.render(list(menu), step=1) == first
    assert "seq=1" in first and "<Say" in first
    later = render.render(menu, step=2)
    assert "seq=2" in later and "seq=1" not in later


def test_a_prompt_rendered_since_is_played(tmp_path: Path) -> None:
    render, prompts = renderer(tmp_path)
    actions = [Speak("Welcome to the help line.", "en"), Hangup()]
    assert "<Say" in render.render(actions)
    key = prompts.key("Welcome to the help line.", "en")
    (tmp_path / f"{key}.mp3").write_bytes(b"ID3\x04\x00" + bytes(20))
    prompts.refresh()  # what `prompts build` while serving leads to
    answer = render.render(actions)
    assert f"<Play>{URL}/media/prompts/{key}.mp3</Play>" in answer and "<Say" not in answer


def test_answers_with_caller_data_are_not_kept(tmp_path: Path) -> None:
    render, _ = renderer(tmp_path)
    spoken = Speak("Order 12345678 shipped on Monday.", "en", personal=True)
    said = render.render([spoken, Hangup()], step=3)
    asked = render.render([Gather("main", "again", 1, (spoken,), "en")], step=4)
    assert "12345678" in said and "12345678" in asked
    kept = repr(vars(render))
    assert "12345678" not in kept
