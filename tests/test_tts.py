"""PromptCache against a local stand-in of Google Translate's TTS endpoint.

gTTS runs for real (tokenizing, request packaging, HTTP via requests, response parsing);
only the host it talks to is replaced, because Google is unreachable here.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import gtts.tts
import pytest

import callcenter.media.tts
from callcenter.config import VoiceConfig
from callcenter.media.tts import BuildReport, PromptCache, TTSError

VOICES = {
    "en": VoiceConfig(say_voice="Polly.Joanna", say_language="en-US", gtts_lang="en"),
    "en-GB": VoiceConfig(
        say_voice="Polly.Amy", say_language="en-GB", gtts_lang="en", gtts_tld="co.uk"
    ),
    "zh-CN": VoiceConfig(say_voice="Polly.Zhiyu", say_language="cmn-CN", gtts_lang="zh-CN"),
}
MPEG_FRAME = b"\xff\xfb\x90\x64"  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz


def fake_mp3(text: str) -> bytes:
    """What the stand-in returns for one request: a frame header, padding, the text."""
    return MPEG_FRAME + bytes(8) + text.encode("utf-8")


@dataclass(frozen=True)
class Sent:
    """One request the stand-in received, decoded the way Google would."""

    text: str
    lang: str
    tld: str
    rpc: str = "jQ1olc"


@dataclass
class FakeTranslate:
    """Behaviour and request log of the stand-in server."""

    mode: str = "ok"
    queued: list[str] = field(default_factory=list)
    requests: list[Sent] = field(default_factory=list)

    def next_mode(self) -> str:
        return self.queued.pop(0) if self.queued else self.mode


def _rpc_line(value: str | None) -> str:
    # Compact separators, as Google sends them: gTTS's regex expects `jQ1olc","[\"`.
    return json.dumps(
        [["wrb.fr", "jQ1olc", value, None, None, None, "generic"]], separators=(",", ":")
    )


def _reply(audio: bytes) -> bytes:
    line = _rpc_line(json.dumps([base64.b64encode(audio).decode("ascii")]))
    return f")]}}'\n\n{len(line)}\n{line}\n".encode()


def _make_handler(fake: FakeTranslate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode("ascii")
            rpc = json.loads(parse_qs(body)["f.req"][0])
            rpc_id, parameters = rpc[0][0][0], rpc[0][0][1]
            text, lang, _speed, _ = json.loads(parameters)
            tld, _, path = self.path.lstrip("/").partition("/")
            assert path == "_/TranslateWebserverUi/data/batchexecute"
            fake.requests.append(Sent(text=text, lang=lang, tld=tld, rpc=rpc_id))

            mode = fake.next_mode()
            status, payload = 200, b""
            if mode == "ok":
                payload = _reply(fake_mp3(text))
            elif mode == "error":
                status, payload = 500, b"upstream exploded"
            elif mode == "garbage":  # 200 without any rpc answer: gTTS yields no bytes
                payload = b"<html><body>Our systems have detected unusual traffic</body></html>"
            elif mode == "not_mp3":  # well-formed answer whose audio is not MP3
                payload = _reply(b"<html>no audio</html>")
            elif mode == "no_audio":  # rpc answer without audio: gTTS raises gTTSError
                payload = (")]}'\n\n" + _rpc_line(None) + "\n").encode()
            else:
                raise AssertionError(f"unknown mode {mode}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _point_gtts_at(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    # THE one mock in this file: Google is unreachable here, so the function gTTS uses to
    # build https://translate.google.<tld>/<path> is pointed at a local server instead.
    monkeypatch.setattr(
        gtts.tts, "_translate_url", lambda tld="com", path="": f"{base}/{tld}/{path}"
    )


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTranslate]:
    """A real HTTP server on 127.0.0.1 speaking the batchexecute protocol gTTS uses."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):  # gTTS passes the environment's proxies through
            monkeypatch.delenv(name)
    fake = FakeTranslate()
    server = HTTPServer(("127.0.0.1", 0), _make_handler(fake))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-google", daemon=True
    )
    thread.start()
    _point_gtts_at(monkeypatch, f"http://127.0.0.1:{server.server_port}")
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "tts"


@pytest.fixture
def cache(cache_dir: Path) -> PromptCache:
    return PromptCache(cache_dir, VOICES, retry_delay=0)


def test_cache_miss_renders_mp3_and_sidecar(
    google: FakeTranslate, cache: PromptCache, cache_dir: Path
) -> None:
    text = "Welcome to Acme."
    assert cache.url_for(text, "en") is None
    key = cache.key(text, "en")

    path = cache.render(text, "en")

    assert google.requests == [Sent(text=text, lang="en", tld="com")]
    assert path == cache_dir / f"{key}.mp3"
    assert path.read_bytes() == fake_mp3(text)
    assert (cache_dir / f"{key}.txt").read_text(encoding="utf-8") == text
    assert sorted(p.name for p in cache_dir.iterdir()) == [f"{key}.mp3", f"{key}.txt"]
    assert cache.url_for(text, "en") == f"/media/prompts/{key}.mp3"
    assert cache.path_for(key) == path
    assert cache.transcript(key) == text
    assert len(cache) == 1


def test_cache_hit_does_not_call_the_server_again(
    google: FakeTranslate, cache: PromptCache
) -> None:
    prompts = [("Press one for sales.", "en"), ("Press two for support.", "en")]

    first = cache.build(prompts)
    assert first == BuildReport(rendered=2, cached=0, failed=[])
    assert [sent.text for sent in google.requests] == [text for text, _ in prompts]

    second = cache.build(prompts)
    assert second == BuildReport(rendered=0, cached=2, failed=[])
    assert second.ok
    assert len(google.requests) == 2


def test_new_cache_over_same_dir_finds_existing_files(
    google: FakeTranslate, cache: PromptCache, cache_dir: Path
) -> None:
    text = "Please hold."
    cache.render(text, "en")
    key = cache.key(text, "en")

    reopened = PromptCache(cache_dir, VOICES, url_prefix="/static/tts/")

    assert len(reopened) == 1
    assert reopened.url_for(text, "en") == f"/static/tts/{key}.mp3"
    assert reopened.transcript(key) == text
    assert reopened.build([(text, "en")]) == BuildReport(rendered=0, cached=1, failed=[])
    assert len(google.requests) == 1


def test_corrupt_or_empty_files_are_not_cached(google: FakeTranslate, cache_dir: Path) -> None:
    probe = PromptCache(cache_dir, VOICES, retry_delay=0)
    empty, html, good = "Empty file.", "HTML file.", "Tagged file."
    cache_dir.mkdir()
    (cache_dir / f"{probe.key(empty, 'en')}.mp3").write_bytes(b"")
    (cache_dir / f"{probe.key(html, 'en')}.mp3").write_bytes(b"<html>error</html>")
    (cache_dir / f"{probe.key(good, 'en')}.mp3").write_bytes(b"ID3\x04\x00" + bytes(20))
    (cache_dir / "not-a-key.mp3").write_bytes(fake_mp3("stray"))  # not a key: ignored

    cache = PromptCache(cache_dir, VOICES, retry_delay=0)

    assert len(cache) == 1
    assert cache.url_for(empty, "en") is None
    assert cache.url_for(html, "en") is None
    assert cache.url_for(good, "en") == f"/media/prompts/{cache.key(good, 'en')}.mp3"

    report = cache.build([(empty, "en"), (html, "en"), (good, "en")])

    assert report == BuildReport(rendered=2, cached=1, failed=[])
    assert [sent.text for sent in google.requests] == [empty, html]
    assert (cache_dir / f"{cache.key(html, 'en')}.mp3").read_bytes() == fake_mp3(html)
    assert cache.url_for(empty, "en") is not None


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("error", "500 (Internal Server Error) from TTS API"),
        ("garbage", "gTTS returned no MP3 audio for en prompt 'Our office is closed.' (0 bytes"),
        ("not_mp3", "(21 bytes, starting b'<html>no'"),
        ("no_audio", "200 (OK) from TTS API"),
    ],
)
def test_server_failure_is_reported_and_prompt_stays_uncached(
    google: FakeTranslate, cache: PromptCache, cache_dir: Path, mode: str, message: str
) -> None:
    google.mode = mode
    text = "Our office is closed."

    report = cache.build([(text, "en")], retries=2)

    assert report.rendered == 0
    assert report.cached == 0
    assert not report.ok
    [(failed_text, failed_language, error)] = report.failed
    assert (failed_text, failed_language) == (text, "en")
    assert message in error
    assert len(google.requests) == 3  # one attempt plus two retries
    assert cache.url_for(text, "en") is None  # so the IVR falls back to <Say>
    assert list(cache_dir.glob("*")) == []  # no partial or temporary files left behind
    assert PromptCache(cache_dir, VOICES).url_for(text, "en") is None


def test_render_raises_tts_error_on_server_failure(
    google: FakeTranslate, cache: PromptCache
) -> None:
    google.mode = "error"
    with pytest.raises(TTSError, match=r"gTTS failed for en prompt 'Goodbye\.': 500"):
        cache.render("Goodbye.", "en")
    assert cache.url_for("Goodbye.", "en") is None


def test_unreachable_host_is_a_failure(
    google: FakeTranslate, cache: PromptCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _point_gtts_at(monkeypatch, f"http://127.0.0.1:{port}")

    report = cache.build([("Hello.", "en")], retries=0)

    assert report.rendered == 0
    assert len(report.failed) == 1
    assert "Failed to connect" in report.failed[0][2]
    assert cache.url_for("Hello.", "en") is None


def test_failed_attempt_is_retried(google: FakeTranslate, cache: PromptCache) -> None:
    google.queued = ["error", "garbage"]

    report = cache.build([("Thanks for calling.", "en")], retries=2)

    assert report == BuildReport(rendered=1, cached=0, failed=[])
    assert len(google.requests) == 3
    assert cache.url_for("Thanks for calling.", "en") is not None


def test_progress_called_once_per_prompt(google: FakeTranslate, cache: PromptCache) -> None:
    cache.render("Already here.", "en")
    prompts = [
        ("One.", "en"),
        ("Already here.", "en"),
        ("One.", "en"),
        ("Two.", "fr"),
        ("Three.", "en"),
    ]
    calls: list[tuple[int, int]] = []

    report = cache.build(prompts, progress=lambda n: calls.append((n, len(google.requests))))

    # (step, requests so far): called after each item, cached/duplicate/failed ones included
    assert calls == [(1, 2), (1, 2), (1, 2), (1, 2), (1, 3)]
    assert report.rendered == 2
    assert report.cached == 1
    assert [(text, language) for text, language, _ in report.failed] == [("Two.", "fr")]


def test_duplicates_are_rendered_once(google: FakeTranslate, cache: PromptCache) -> None:
    prompts = [
        ("Hello there.", "en"),
        ("  Hello   there. ", "en"),
        ("Hello there.", "en"),
        ("Hello there.", "en-GB"),
        ("Hello there.", "zh-CN"),
    ]

    report = cache.build(prompts)

    assert report == BuildReport(rendered=3, cached=0, failed=[])
    assert google.requests == [
        Sent(text="Hello there.", lang="en", tld="com"),
        Sent(text="Hello there.", lang="en", tld="co.uk"),
        Sent(text="Hello there.", lang="zh-CN", tld="com"),
    ]
    assert cache.key("  Hello   there. ", "en") == cache.key("Hello there.", "en")
    assert cache.url_for("Hello\nthere.", "en") is not None


def test_key_is_stable_hex(cache: PromptCache, cache_dir: Path) -> None:
    key = cache.key("Welcome to Acme.", "en")
    # Golden value: changing the key recipe orphans every prompt already rendered.
    assert key == "e3403bfc8990ec05f375b36c633763ae"
    assert PromptCache(cache_dir, VOICES).key("Welcome to Acme.", "en") == key
    assert cache.key("Welcome to Acme.", "en-GB") != key  # other tld, other accent
    assert cache.key("Welcome to Acme.", "zh-CN") != key
    assert cache.key("Welcome to Acme!", "en") != key


def test_path_for_rejects_traversal(
    google: FakeTranslate, cache: PromptCache, tmp_path: Path
) -> None:
    cache.render("Menu.", "en")
    key = cache.key("Menu.", "en")
    (tmp_path / "secret.mp3").write_bytes(fake_mp3("secret"))
    (tmp_path / "secret.txt").write_text("secret", encoding="utf-8")

    assert cache.path_for(key) == cache.cache_dir / f"{key}.mp3"
    for bad in [
        "../secret",
        f"../tts/{key}",
        f"{key}/../../secret",
        "../../etc/passwd",
        "/etc/passwd",
        key.upper(),
        f"{key}.mp3",
        f"{key}\n",
        key[:-1],
        "",
        "0" * 32,  # well-formed but not cached
    ]:
        assert cache.path_for(bad) is None, bad
        assert cache.transcript(bad) is None, bad


def test_unknown_language_raises(google: FakeTranslate, cache: PromptCache) -> None:
    for call in (cache.key, cache.url_for, cache.render):
        with pytest.raises(TTSError, match=r"unknown language 'fr' \(voices: en, en-GB, zh-CN\)"):
            call("Bonjour.", "fr")

    report = cache.build([("Bonjour.", "fr"), ("Bonjour.", "fr")])

    assert report == BuildReport(
        rendered=0,
        cached=0,
        failed=[("Bonjour.", "fr", "unknown language 'fr' (voices: en, en-GB, zh-CN)")],
    )
    assert google.requests == []


def test_language_gtts_cannot_speak_raises(google: FakeTranslate, cache_dir: Path) -> None:
    voices = {"tlh": VoiceConfig(say_voice="alice", say_language="en-US", gtts_lang="tlh")}
    cache = PromptCache(cache_dir, voices, retry_delay=0)

    with pytest.raises(TTSError, match="gTTS does not support gtts_lang 'tlh'"):
        cache.render("Qapla'", "tlh")
    report = cache.build([("Qapla'", "tlh")])

    assert len(report.failed) == 1
    assert google.requests == []


def test_empty_text_is_a_failure_without_request(google: FakeTranslate, cache: PromptCache) -> None:
    report = cache.build([("   ", "en")])

    assert report.failed == [("   ", "en", "empty prompt text for language 'en'")]
    assert google.requests == []


def test_chinese_prompt(google: FakeTranslate, cache: PromptCache, cache_dir: Path) -> None:
    # Also guards against gTTS's DeprecationWarning for "zh-CN" (filterwarnings = error).
    text = "您好，欢迎致电客服中心。"

    path = cache.render(text, "zh-CN")

    key = cache.key(text, "zh-CN")
    assert google.requests == [Sent(text=text, lang="zh-CN", tld="com")]
    assert path.read_bytes() == fake_mp3(text)
    assert (cache_dir / f"{key}.txt").read_text(encoding="utf-8") == text
    assert cache.transcript(key) == text
    assert cache.url_for(text, "zh-CN") == f"/media/prompts/{key}.mp3"
    assert cache.url_for(text, "en") is None


def test_long_text_is_sent_in_parts_and_concatenated(
    google: FakeTranslate, cache: PromptCache
) -> None:
    first = "Your call is important to us and will be answered by the next available agent."
    second = "Calls may be recorded for quality and training purposes."
    text = f"{first} {second}"

    path = cache.render(text, "en")

    sent_first = first.removesuffix(".")  # gTTS's tokenizer cuts at (and drops) the period
    assert [sent.text for sent in google.requests] == [sent_first, second]
    assert path.read_bytes() == fake_mp3(sent_first) + fake_mp3(second)
    assert cache.transcript(cache.key(text, "en")) == text


def test_module_stays_free_of_flask_and_twilio() -> None:
    tree = ast.parse(Path(callcenter.media.tts.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "gtts" in imported
    assert not imported & {"flask", "twilio", "werkzeug"}


def test_prompts_build_then_the_ivr_plays_cached_audio(
    google: FakeTranslate, tmp_path: Path, make_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`callcenter prompts build` renders every static prompt; webhooks then <Play> them."""
    import xml.etree.ElementTree as ET

    import yaml
    from click.testing import CliRunner
    from conftest import ROOT, TwilioWebhooks, call_params

    from callcenter.cli import main

    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config.update(
        flows_dir=str(ROOT / "ivr_flows"),
        instance_dir=str(tmp_path / "instance"),
        tts={"enabled": True, "cache_dir": str(tmp_path / "tts")},
    )
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config_file))

    result = CliRunner().invoke(main, ["prompts", "build"])
    assert result.exit_code == 0, result.output
    rendered = len(list((tmp_path / "tts").glob("*.mp3")))
    assert rendered > 70  # every static prompt of both flows and config, in both languages
    assert f"{rendered} rendered, 0 already cached, 0 failed" in result.output
    requests = len(google.requests)
    assert {sent.lang for sent in google.requests} == {"en", "zh-CN"}
    assert not any("{" in sent.text for sent in google.requests)  # personal prompts stay <Say>

    again = CliRunner().invoke(main, ["prompts", "build"])
    assert f"0 rendered, {rendered} already cached, 0 failed" in again.output
    assert len(google.requests) == requests  # nothing rendered twice

    app = make_app(tts={"enabled": True, "cache_dir": str(tmp_path / "tts")})
    answer = TwilioWebhooks(app.test_client()).post("/twilio/voice", call_params("CA" + "c" * 32))
    gather = ET.fromstring(answer.data).find("Gather")
    assert gather is not None
    plays = [element.text or "" for element in gather.iter("Play")]
    assert len(plays) == 2 and not list(gather.iter("Say"))
    assert all(url.startswith("https://cc.example.test/media/prompts/") for url in plays)
    audio = app.test_client().get(plays[0].removeprefix("https://cc.example.test"))
    assert audio.status_code == 200 and audio.mimetype == "audio/mpeg"
    assert audio.get_data()[:3] in (b"ID3", b"\xff\xfb\x90")
    audio.close()
    transcript = app.test_client().get(
        plays[1].removeprefix("https://cc.example.test").replace(".mp3", ".txt")
    )
    assert transcript.get_data(as_text=True) == "中文服务请按2。"


def test_a_running_server_picks_up_newly_built_prompts(cache_dir: Path) -> None:
    cache = PromptCache(cache_dir, VOICES, retry_delay=0)
    assert cache.url_for("Hello.", "en") is None
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / f"{cache.key('Hello.', 'en')}.mp3").write_bytes(fake_mp3("Hello."))
    assert cache.refresh_if_changed(interval=0) is True
    assert cache.url_for("Hello.", "en") == f"/media/prompts/{cache.key('Hello.', 'en')}.mp3"
    assert cache.refresh_if_changed(interval=0) is False  # nothing changed since
