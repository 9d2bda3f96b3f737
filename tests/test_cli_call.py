"""The `callcenter` command line: `call` against a live server, and `customers import`."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import LiveServer, sync_knowledge_base
from sqlalchemy import func, select

from callcenter.cli import main
from callcenter.config import load_settings
from callcenter.db import Database
from callcenter.models import Call, CallEvent, Customer, CustomerPhone

ROOT = Path(__file__).resolve().parent.parent
DEMO_CSV = ROOT / "demo" / "customers.csv"

GREETING = "Welcome to Lumina Electronics after-sales service. Calls may be recorded for quality."
REPAIRS_MENU = (
    "To check the status of a repair, press 1. To book a repair, press 2. "
    "For warranty information, press 3. To return to the main menu, press 9."
)
WARRANTY = (
    "Every Lumina product comes with a two-year warranty from the date of purchase, "
    "covering defects in materials and workmanship."
)
GOODBYE = "Thank you for calling Lumina Electronics. Goodbye."


def cli_env(live_server: LiveServer, database_url: str) -> dict[str, str]:
    settings = live_server.app.extensions["callcenter"].settings
    return {
        "CALLCENTER_PUBLIC_URL": live_server.url,
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_TWILIO_API_URL": live_server.url + "/simulator",
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
    }


def invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner(mix_stderr=False).invoke(main, args, env=env, catch_exceptions=False)


def lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines()]


def events(database_url: str, call_sid: str) -> list[CallEvent]:
    database = Database(database_url)
    try:
        with database.session() as session:
            rows = session.scalars(
                select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)
            ).all()
            session.expunge_all()
            return list(rows)
    finally:
        database.dispose()


def the_call(database_url: str, call_sid: str) -> Call:
    database = Database(database_url)
    try:
        with database.session() as session:
            call = session.scalars(select(Call).where(Call.call_sid == call_sid)).one()
            session.expunge(call)
            return call
    finally:
        database.dispose()


def ended_call_sid(output: str) -> str:
    match = re.search(r"^Call (CA[0-9a-f]{32}) ended: ", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_cli_signs_with_the_credentials_from_the_environment(
    live_server: LiveServer, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cli_env(live_server, database_url).items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    server = live_server.app.extensions["callcenter"].settings
    assert settings.public_url == live_server.url
    assert settings.twilio_account_sid == server.twilio_account_sid
    assert settings.twilio_auth_token == server.twilio_auth_token
    assert settings.twilio_api_url == live_server.url + "/simulator"


def test_call_reaches_the_support_queue(live_server: LiveServer, database_url: str) -> None:
    result = invoke(
        ["call", "+8613900139000", "--press", "1", "--press", "0", "--hold", "25"],
        cli_env(live_server, database_url),
    )

    assert result.exit_code == 0, result.output + result.stderr
    out = lines(result.output)
    assert out[0] == f"Calling +864008001234 from +8613900139000 via {live_server.url}"
    assert out[1:5] == [
        "Say (en-US, Polly.Joanna): For English, press 1.",
        "Say (cmn-CN, Polly.Zhiyu): 中文服务请按2。",
        "Pressed: 1",
        f"Say (en-US, Polly.Joanna): {GREETING}",
    ]
    assert "Pressed: 0" in out
    assert "Say (en-US, Polly.Joanna): Please hold while we connect you to an agent." in out
    assert 'In queue "support", position 1' in out
    assert "Say (en-US, Polly.Joanna): You are number 1 in line." in out
    assert 'Hangup: caller hung up after 25s in queue "support"' in out
    assert "Application error" not in result.output
    call_sid = ended_call_sid(result.output)
    assert out[-1] == f"Call {call_sid} ended: hung up in queue support after 25s"

    # The server accepted every signed webhook: the call is in the database.
    call = the_call(database_url, call_sid)
    assert (call.queue, call.outcome, call.queue_wait_seconds) == ("support", "abandoned", 25)
    assert call.from_number == "+8613900139000"


def test_press_and_say_are_used_in_the_order_given(
    live_server: LiveServer, database_url: str
) -> None:
    sync_knowledge_base(live_server.app)
    result = invoke(
        [
            "call",
            "+8613900139000",
            "--press",
            "1",
            "--say",
            "I need a repair",
            "--press=3",
            "--press",
            "2",
        ],
        cli_env(live_server, database_url),
    )

    assert result.exit_code == 0, result.output + result.stderr
    out = lines(result.output)
    actions = [line for line in out if line.startswith(("Pressed:", "Said:"))]
    assert actions == ["Pressed: 1", 'Said: "I need a repair"', "Pressed: 3", "Pressed: 2"]
    said = out.index('Said: "I need a repair"')
    assert out[said + 1] == f"Say (en-US, Polly.Joanna): {REPAIRS_MENU}"
    assert f"Say (en-US, Polly.Joanna): {WARRANTY}" in out
    assert f"Say (en-US, Polly.Joanna): {GOODBYE}" in out
    call_sid = ended_call_sid(result.output)
    assert out[-1] == f"Call {call_sid} ended: hung up by the app"

    inputs = [
        (e.node, e.input, e.detail["via"])
        for e in events(database_url, call_sid)
        if e.kind == "ivr.input"
    ]
    assert inputs == [
        ("choose_language", "1", "dtmf"),
        ("main_menu", "I need a repair", "speech"),
        ("repairs_menu", "3", "dtmf"),
        ("warranty_info", "2", "dtmf"),
    ]
    assert the_call(database_url, call_sid).outcome == "ivr-hangup"


def test_call_to_a_server_that_is_not_running_fails(
    live_server: LiveServer, database_url: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {**cli_env(live_server, database_url), "CALLCENTER_PUBLIC_URL": closed}

    result = invoke(["call", "+8613900139000", "--press", "1"], env)

    # `call` catches TransportError to say "cannot reach the server" and exit 1.
    assert "Say (" not in result.output
    assert result.exit_code == 1, result.output
    assert "cannot reach the server" in result.stderr


# -- customers import ------------------------------------------------------------------------


def import_env(database_url: str) -> dict[str, str]:
    return {"CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_SECRET_KEY": "cli-test-secret"}


def test_customers_import_then_reimport(database_url: str) -> None:
    env = import_env(database_url)

    first = invoke(["customers", "import", str(DEMO_CSV)], env)
    assert first.exit_code == 0, first.output + first.stderr
    assert first.output.strip() == f"imported {DEMO_CSV}: 40 created, 0 updated, 0 unchanged"

    again = invoke(["customers", "import", str(DEMO_CSV)], env)
    assert again.exit_code == 0, again.output + again.stderr
    assert again.output.strip() == f"imported {DEMO_CSV}: 0 created, 0 updated, 40 unchanged"

    database = Database(database_url)
    try:
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Customer)) == 40
            wang = session.scalars(
                select(Customer).join(CustomerPhone).where(CustomerPhone.number == "+8613800138000")
            ).one()
            assert (wang.name, wang.tier, wang.language, wang.account_code) == (
                "王伟",
                "vip",
                "zh-CN",
                "ACME-1001",
            )
    finally:
        database.dispose()


def test_a_bad_csv_is_rejected_with_line_numbers(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "name,phone,tier,language,account,notes\n"
        "Good Person,+12125550100,normal,en,,\n"
        ",+12125550101,normal,en,,\n"
        "Bad Tier,+12125550102,gold,en,,\n"
        "Bad Phone,12345,normal,en,,\n",
        encoding="utf-8",
    )

    result = invoke(["customers", "import", str(bad)], import_env(database_url))

    assert result.exit_code == 1
    errors = lines(result.stderr)
    assert f"{bad}: line 3: name: required" in errors
    assert any(line.startswith(f"{bad}: line 4: tier: 'gold'") for line in errors)
    assert any(line.startswith(f"{bad}: line 5: phone:") for line in errors)
    assert errors[-1] == "nothing was imported"
    assert "created" not in result.output

    database = Database(database_url)
    try:
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Customer)) == 0
    finally:
        database.dispose()


# -- the URL a call is made to and signed for -----------------------------------------------


def test_url_alone_signs_for_that_url(live_server: LiveServer, database_url: str) -> None:
    """Without CALLCENTER_PUBLIC_URL, `--url` is also the URL the webhooks are signed for
    (the file's public URL, port 5000, is not where this server is)."""
    env = cli_env(live_server, database_url)
    del env["CALLCENTER_PUBLIC_URL"]

    result = invoke(
        ["call", "+8613900139000", "--press", "1", "--press", "0", "--hold", "5",
         "--url", live_server.url],
        env,
    )  # fmt: skip

    assert result.exit_code == 0, result.output + result.stderr
    assert "Application error" not in result.output
    assert "Say (en-US, Polly.Joanna): Please hold while we connect you to an agent." in lines(
        result.output
    )
    call = the_call(database_url, ended_call_sid(result.output))
    assert call.queue == "support"


def test_a_refused_signature_says_what_to_set(live_server: LiveServer, database_url: str) -> None:
    env = cli_env(live_server, database_url)
    del env["CALLCENTER_PUBLIC_URL"]
    elsewhere = "https://cc.example.test"

    result = invoke(
        ["call", "+8613900139000", "--url", live_server.url, "--public-url", elsewhere], env
    )

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output + result.stderr
    assert lines(result.stderr) == [
        f"Error: the server at {live_server.url} refused the webhook signed for "
        f"{elsewhere}/twilio/voice (HTTP 403).",
        "It checks signatures against its own public URL and auth token: start it with "
        f"CALLCENTER_PUBLIC_URL={elsewhere}, or pass --public-url with the server's public "
        "URL (and run this command with the server's config and TWILIO_AUTH_TOKEN).",
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serving_config(tmp_path: Path) -> Path:
    """config.yaml with its folders moved under tmp_path (the generated secrets too)."""
    import yaml

    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data.update(
        instance_dir=str(tmp_path / "instance"),
        recordings_dir=str(tmp_path / "recordings"),
        flows_dir=str(ROOT / "ivr_flows"),
        knowledge_base_dir=str(ROOT / "knowledge_base"),
        tts={"enabled": False, "cache_dir": str(tmp_path / "tts")},
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_call_to_serve_on_another_port_just_works(database_url: str, tmp_path: Path) -> None:
    """`callcenter serve --port P` (no CALLCENTER_PUBLIC_URL) and `callcenter call --url`
    agree on the URL webhooks are signed for; the demo hours let the caller through."""
    import os
    import subprocess
    import sys
    import time

    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "CALLCENTER_CONFIG": str(serving_config(tmp_path)),
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
    }
    server_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CALLCENTER_", "TWILIO_"))},
        **env,
    }
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "callcenter.cli", "serve", "--port", str(port),
             "--open-all-hours"],
            env=server_env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)

        result = invoke(
            ["call", "+8613900139000", "--press", "1", "--press", "0", "--hold", "5",
             "--url", url],
            env,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(20)

    assert result.exit_code == 0, result.output + result.stderr + log.read_text()
    assert "Application error" not in result.output
    assert "Say (en-US, Polly.Joanna): Please hold while we connect you to an agent." in lines(
        result.output
    )
    banner = lines(log.read_text())
    assert f"Public URL:    {url}  (from --host/--port)" in banner
    assert (
        "Hours:         demo: opening hours ignored, open around the clock (--open-all-hours);"
        in banner
    )
    assert (
        f"Try a call:    .venv/bin/callcenter call +8613800138000 --press 1 --url {url}" in banner
    )
    pages = " ".join(banner)
    for page in ("/agent", "/supervisor", "/reports", "/customers", "/tickets"):
        assert f"{url}{page} " in pages + " ", page


# -- usage errors and leftovers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--press", "x"], "Error: Invalid value for '--press': not DTMF keys: 'x' "
         "(use 0-9, * and #)"),
        (["--press", "1", "--press", "12a"], "Error: Invalid value for '--press': not DTMF keys: "
         "'12a' (use 0-9, * and #)"),
        (["--say", "  "], "Error: Invalid value for '--say': say something: the text is empty"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line_usage_errors(
    live_server: LiveServer, database_url: str, args: list[str], message: str
) -> None:
    result = invoke(["call", "+8613900139000", *args], cli_env(live_server, database_url))

    assert result.exit_code == 2, result.output + result.stderr
    assert lines(result.stderr) == [message]
    assert "Calling" not in result.output  # nothing was dialed


def test_inputs_left_when_the_call_ended_are_reported(
    live_server: LiveServer, database_url: str
) -> None:
    sync_knowledge_base(live_server.app)
    result = invoke(
        ["call", "+8613900139000", "--press", "1", "--press", "1", "--press", "3",
         "--press", "2", "--press", "5", "--say", "hello there"],
        cli_env(live_server, database_url),
    )  # fmt: skip

    assert result.exit_code == 0, result.output + result.stderr
    assert f"Say (en-US, Polly.Joanna): {GOODBYE}" in lines(result.output)
    assert lines(result.stderr) == [
        "Warning: the call ended before these were used: --press 5 --say 'hello there'"
    ]


def test_an_unreachable_server_is_one_line_naming_the_url_tried(
    live_server: LiveServer, database_url: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    result = invoke(
        ["call", "+8613900139000", "--press", "1", "--url", closed],
        cli_env(live_server, database_url),
    )

    assert result.exit_code == 1, result.output
    assert lines(result.stderr) == [
        f"Error: cannot reach the server at {closed}: connection refused "
        "(is it running? `make run` starts it; --url names another)"
    ]
    assert live_server.url not in result.output + result.stderr
    assert "Application error" not in result.output
