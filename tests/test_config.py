"""Settings: file defaults, environment overrides, validation messages that name the key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.config import SIMULATOR_ACCOUNT_SID, ConfigError, HoursConfig, load_settings
from callcenter.db import Base, Database
from callcenter.ivr.hours import describe_hours, is_holiday, is_open
from callcenter.knowledge.models import include_in_comparison

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_repository_config_loads_in_simulator_mode(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    settings = load_settings(path, environ={})
    assert settings.simulator is True
    assert settings.twilio_account_sid == SIMULATOR_ACCOUNT_SID
    assert settings.twilio_api_url == "http://127.0.0.1:5000/simulator"
    token_file = tmp_path / "instance" / "simulator_auth_token"
    assert settings.twilio_auth_token == token_file.read_text().strip()
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    # The same token on the next start, so the CLI and the server agree.
    assert load_settings(path, environ={}).twilio_auth_token == settings.twilio_auth_token
    assert settings.languages == ["en", "zh-CN"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    environ = {
        "CALLCENTER_PUBLIC_URL": "https://calls.example.com/",
        "CALLCENTER_DATABASE_URL": "postgresql+psycopg://u:p@db/cc",
        "TWILIO_ACCOUNT_SID": "AC" + "2" * 32,
        "TWILIO_AUTH_TOKEN": "real-token",
        "CALLCENTER_SECRET_KEY": "s3cret",
    }
    settings = load_settings(write_config(tmp_path), environ=environ)
    assert settings.public_url == "https://calls.example.com"
    assert settings.database_url == "postgresql+psycopg://u:p@db/cc"
    assert settings.simulator is False
    assert settings.twilio_auth_token == "real-token"
    assert settings.twilio_api_url == "https://api.twilio.com"
    assert settings.secret_key == "s3cret"


def test_twilio_api_url_can_point_at_a_local_server(tmp_path: Path) -> None:
    environ = {"CALLCENTER_TWILIO_API_URL": "http://127.0.0.1:8081"}
    settings = load_settings(write_config(tmp_path), environ=environ)
    assert settings.twilio_api_url == "http://127.0.0.1:8081"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"public_url": "ftp://x"}, "config.yaml: public_url: Value error, must be an http(s) URL"),
        ({"timezone": "Mars/Base"}, "timezone: Value error, unknown time zone 'Mars/Base'"),
        ({"hours__support__weekly": {"mon": ["9-5"]}}, "hours.support.weekly: Value error, bad"),
        ({"hours__support__weekly": {"funday": []}}, "unknown weekday 'funday'"),
        ({"hours__support__weekly": {"mon": ["18:00-09:00"]}}, "end is not after start"),
        ({"queues__support__max_wait": 1}, "queues.support.max_wait: Input should be greater"),
        ({"queues__support__overflow_mailbox": "nope"}, "no mailbox named 'nope'"),
        ({"queues__support__hours": "nope"}, "queues.support.hours: no hours named 'nope'"),
        ({"fallback__mailbox": "nope"}, "fallback.mailbox: no mailbox named 'nope'"),
        ({"messages__voicemail_saved": {"en": "Bye"}}, "messages.voicemail_saved: missing text"),
        ({"default_language": "fr"}, "default_language 'fr' has no entry in voices"),
        ({"unknown_key": 1}, "unknown_key: Extra inputs are not permitted"),
        ({"voices__en__say_voice": None}, "voices.en.say_voice: Field required"),
    ],
)
def test_invalid_settings_name_the_key(tmp_path: Path, changes: dict, message: str) -> None:
    path = write_config(tmp_path, **changes)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize("key", ["twilio_auth_token", "twilio_account_sid", "secret_key"])
def test_secrets_in_the_file_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=f"{key}: secrets belong in the environment"):
        load_settings(write_config(tmp_path, **{key: "oops"}), environ={})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "absent.yaml", environ={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("public_url: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken, environ={})


def test_business_hours_and_holidays(tmp_path: Path) -> None:
    hours = load_settings(write_config(tmp_path), environ={}).hours["support"]
    # Wednesday 25 Nov 2026: 09:00-21:00 in Shanghai (UTC+8).
    assert is_open(hours, datetime(2026, 11, 25, 1, 0, tzinfo=UTC))  # 09:00 local
    assert not is_open(hours, datetime(2026, 11, 25, 0, 59, tzinfo=UTC))  # 08:59 local
    assert not is_open(hours, datetime(2026, 11, 25, 13, 0, tzinfo=UTC))  # 21:00 local
    # Saturday 28 Nov: 10:00-18:00.
    assert not is_open(hours, datetime(2026, 11, 28, 1, 30, tzinfo=UTC))  # 09:30 local
    assert is_open(hours, datetime(2026, 11, 28, 2, 0, tzinfo=UTC))  # 10:00 local
    # National Day is closed all day, though it is a Thursday; the local date decides.
    national_day = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    assert is_holiday(hours, national_day)
    assert not is_open(hours, national_day)
    assert is_holiday(hours, datetime(2026, 9, 30, 16, 30, tzinfo=UTC))  # 00:30 on 1 Oct
    always = load_settings(write_config(tmp_path), environ={}).hours["always"]
    assert is_open(always, datetime(2026, 11, 29, 23, 59, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware datetime"):
        is_open(hours, datetime(2026, 11, 25, 10, 0))


def test_the_hours_say_whether_they_are_open_and_when_that_changes(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path), environ={})
    support, always = settings.hours["support"], settings.hours["always"]
    sunday_night = datetime(2026, 11, 22, 15, 21, tzinfo=UTC)  # Sun 23:21 in Shanghai
    assert describe_hours("support", support, sunday_night) == (
        "support: closed now (Sun 23:21 Asia/Shanghai), opens Mon 09:00 (in 9 h 39 min)"
    )
    wednesday = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wed 10:00 in Shanghai
    assert describe_hours("support", support, wednesday) == (
        "support: open now (Wed 10:00 Asia/Shanghai), closes Wed 21:00 (in 11 h)"
    )
    # Mon 16 Feb 2026 22:00, before two holidays: next open Thursday morning.
    assert describe_hours("support", support, datetime(2026, 2, 16, 14, 0, tzinfo=UTC)) == (
        "support: closed now (Mon 22:00 Asia/Shanghai), opens Thu 09:00 (in 2 d 11 h)"
    )
    assert describe_hours("support", support, datetime(2026, 2, 17, 2, 0, tzinfo=UTC)) == (
        "support: closed now for a holiday (Tue 10:00 Asia/Shanghai), opens Thu 09:00 (in 1 d 23 h)"
    )
    assert describe_hours("always", always, sunday_night) == (
        "always: open now (Sun 15:21 UTC), around the clock"
    )
    night_shift = HoursConfig(weekly={"mon": ["22:00-24:00"], "tue": ["00:00-06:00"]})
    monday_late = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    assert describe_hours("night", night_shift, monday_late) == (
        "night: open now (Mon 23:00 UTC), closes Tue 06:00 (in 7 h)"
    )
    assert describe_hours("never", HoursConfig(), monday_late) == (
        "never: closed now (Mon 23:00 UTC), no opening within a year"
    )


def test_migrations_match_the_models(database_url: str) -> None:
    """The Alembic head creates exactly the tables and columns the models declare."""
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": False,
                    # SQLite's FTS5 table and its shadow tables are not models.
                    "include_object": include_in_comparison(connection.dialect.name),
                },
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        database.dispose()


def test_ivr_stays_by_call_start_are_indexed_on_postgresql_only(database_url: str) -> None:
    """PostgreSQL, which cannot skip through the way-led index, gets one led by the call's
    start for short periods; SQLite (which skips) does not, and the models say both."""
    from sqlalchemy import inspect

    from callcenter.metrics.facts import IVR_VISITS_STARTED_INDEX, IvrVisit

    declared = {index.name: index for index in IvrVisit.__table__.indexes}
    assert declared[IVR_VISITS_STARTED_INDEX].info == {"only": "postgresql"}
    database = Database(database_url)
    try:
        indexes = {i["name"]: i for i in inspect(database.engine).get_indexes("ivr_visits")}
        if database.engine.dialect.name == "postgresql":
            assert indexes[IVR_VISITS_STARTED_INDEX]["column_names"][:2] == [
                "call_started_at",
                "way_id",
            ]
        else:
            assert IVR_VISITS_STARTED_INDEX not in indexes
    finally:
        database.dispose()


def test_twilio_credentials_come_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be set together"):
        load_settings(write_config(tmp_path), environ={"TWILIO_AUTH_TOKEN": "only-the-token"})


def test_queue_and_mailbox_names_are_plain(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, mailboxes={"Sales Team": {"display_name": "x"}, "general": {"display_name": "g"}}
    )
    with pytest.raises(ConfigError, match="'Sales Team': names are lowercase letters"):
        load_settings(path, environ={})


def test_numbers_must_name_an_existing_flow(make_app) -> None:
    with pytest.raises(ConfigError, match=r"numbers\.\+18005550100: no flow named 'sales'"):
        make_app(numbers={"+18005550100": "sales"})
    with pytest.raises(ConfigError, match="default_flow: no flow named 'nope'"):
        make_app(default_flow="nope")


def test_concurrent_starts_share_one_generated_secret(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    path = write_config(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_settings(path, environ={}).secret_key, range(16)))
    assert len(keys) == 1 and len(next(iter(keys))) == 32


def test_prune_deletes_only_old_webhook_answers(database_url: str, monkeypatch) -> None:
    from datetime import timedelta

    from click.testing import CliRunner

    from callcenter.cli import main
    from callcenter.models import WebhookResponse, utcnow

    database = Database(database_url)
    try:
        with database.session() as session:
            session.add_all(
                [
                    WebhookResponse(
                        call_sid="CA1", step_key="old", created_at=utcnow() - timedelta(days=3)
                    ),
                    WebhookResponse(call_sid="CA1", step_key="new", created_at=utcnow()),
                ]
            )
        monkeypatch.setenv("CALLCENTER_DATABASE_URL", database_url)
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "3" * 32)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
        monkeypatch.setenv("CALLCENTER_SECRET_KEY", "key")
        result = CliRunner().invoke(main, ["maintenance", "prune", "--days", "2"])
        assert result.exit_code == 0, result.output
        assert "1 stored webhook answer(s) older than 2 day(s) deleted" in result.output
        with database.session() as session:
            assert [row.step_key for row in session.query(WebhookResponse)] == ["new"]
    finally:
        database.dispose()
