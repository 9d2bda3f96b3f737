"""Application factory.

>>> app = create_app({"database_url": "sqlite:///:memory:"})
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.exceptions import HTTPException

from callcenter import db
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.ivr.engine import EngineSettings, IvrEngine
from callcenter.ivr.hours import always_open
from callcenter.ivr.loader import FlowCatalog
from callcenter.ivr.registry import FlowRegistry
from callcenter.logs import configure_logging, install_request_log
from callcenter.media.tts import PromptCache
from callcenter.services import Services
from callcenter.telephony.twiml import TwimlRenderer, UrlBuilder

log = logging.getLogger("callcenter")


def flow_catalog(settings: Settings) -> FlowCatalog:
    """What flows may name, taken from the settings and the knowledge base's files."""
    from callcenter.knowledge.articles import load_articles

    articles = None
    directory = settings.path(settings.knowledge_base_dir)
    if directory.is_dir():
        found, _errors = load_articles(directory, settings.languages)
        articles = frozenset(article.id for article in found)
    return FlowCatalog(
        languages=frozenset(settings.voices),
        queues=frozenset(settings.queues),
        mailboxes=frozenset(settings.mailboxes),
        hours=frozenset(settings.hours),
        articles=articles,
    )


def engine_settings(settings: Settings) -> EngineSettings:
    hours = settings.hours
    if settings.open_all_hours:
        hours = {name: always_open(schedule) for name, schedule in hours.items()}
    return EngineSettings(
        default_language=settings.default_language,
        hours=hours,
        queues=settings.queues,
        mailboxes=settings.mailboxes,
        fallback_mailbox=settings.fallback.mailbox,
        apology=settings.fallback.apology,
        knowledge_offer=settings.messages.knowledge_offer,
    )


def build_services(settings: Settings) -> Services:
    """Everything an instance needs; raises FlowError when the flows are invalid."""
    flows = FlowRegistry(settings.path(settings.flows_dir), flow_catalog(settings))
    for where, name in [("default_flow", settings.default_flow), *settings.numbers.items()]:
        if name not in flows.flows:
            label = where if where == "default_flow" else f"numbers.{where}"
            raise ConfigError(f"{label}: no flow named {name!r} in {settings.flows_dir}")
    database = db.Database(settings.database_url, settings.base_dir)
    engine = IvrEngine(lambda: flows.flows, engine_settings(settings))
    prompts = PromptCache(settings.path(settings.tts.cache_dir), settings.voices)
    urls = UrlBuilder(settings.public_url)
    renderer = TwimlRenderer(
        urls, settings.voices, settings.default_language, prompts if settings.tts.enabled else None
    )
    return Services(
        settings=settings,
        database=database,
        flows=flows,
        engine=engine,
        prompts=prompts,
        renderer=renderer,
        urls=urls,
        validator=RequestValidator(settings.twilio_auth_token),
    )


def _init_realtime(app: Flask, services: Services) -> None:
    """Socket.IO for the consoles, the dispatcher, and the REST bridge to Twilio."""
    from flask_socketio import SocketIO

    from callcenter.media.remote_erasure import RemoteDeleter
    from callcenter.telephony.bridge import CallBridge, rest_client
    from callcenter.telephony.recordings import TwilioRecordings
    from callcenter.telephony.sms import SmsSender
    from callcenter.web.agent_events import register_agent_events
    from callcenter.web.care_watch import CareWatch
    from callcenter.web.origins import console_origins
    from callcenter.web.realtime import Realtime
    from callcenter.web.session_guard import SessionGuard

    settings = services.settings
    socketio = SocketIO(
        app,
        async_mode="threading",
        message_queue=settings.redis_url,
        cors_allowed_origins=console_origins(settings.public_url),
        logger=log.getChild("socketio"),
        engineio_logger=False,
    )
    realtime = Realtime(socketio, services)
    client = rest_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )
    caller_id = settings.main_number
    bridge = CallBridge(client, services.urls, caller_id)
    realtime.call_upkeep.bridge = bridge
    services.extras["sms"] = SmsSender(client, settings.sms_from or settings.main_number)
    remote = TwilioRecordings(rest_client(settings.twilio_account_sid, settings.twilio_auth_token,
                                          settings.twilio_api_url,
                                          timeout=settings.downloads.timeout_seconds))  # fmt: skip
    services.extras["remote_deleter"] = RemoteDeleter(
        services.database.sessions, remote.delete, settings.downloads
    )
    care = CareWatch(socketio, services, services.extras["sms"])
    services.extras["care"] = care
    realtime.housekeeping.append(care.check)
    guard = SessionGuard(app, socketio, services.database)
    services.extras["session_guard"] = guard
    realtime.housekeeping.append(guard.sweep)
    connections = register_agent_events(socketio, services, realtime, bridge)
    services.announcer = realtime
    services.extras.update(socketio=socketio, realtime=realtime, bridge=bridge)
    services.extras["socket_counts"] = lambda: {
        "/agent": connections.sockets(),
        "/supervisor": realtime.supervisors_connected(),
    }
    if not app.testing:
        # Every serving process runs the dispatcher (under gunicorn too); on PostgreSQL an
        # advisory lock keeps their offers one at a time.
        realtime.start()


def create_app(
    test_config: dict[str, Any] | None = None, *, settings: Settings | None = None
) -> Flask:
    """Build the app. Lower-case keys of `test_config` override settings, upper-case Flask's."""
    test_config = test_config or {}
    if settings is None:
        overrides = {key: value for key, value in test_config.items() if not key.isupper()}
        settings = load_settings(overrides=overrides)
    configure_logging(settings.log_level)
    services = build_services(settings)

    app = Flask(__name__, instance_path=str(settings.path(settings.instance_dir).resolve()))
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
    )
    app.config.update({key: value for key, value in test_config.items() if key.isupper()})
    app.extensions["callcenter"] = services
    install_request_log(app)
    db.init_app(app, services.database)

    from callcenter.web import (
        admin,
        auth,
        bridge_hooks,
        care,
        client_hooks,
        console,
        customers,
        health,
        i18n,
        kb_api,
        limits,
        media,
        prometheus,
        records,
        reports,
        softphone,
        supervision_api,
        survey_hooks,
        twilio_hooks,
    )

    limits.init_app(app)
    i18n.init_app(app)
    app.permanent_session_lifetime = timedelta(hours=settings.session_hours)
    app.register_blueprint(health.bp)
    app.register_blueprint(media.bp)
    app.register_blueprint(twilio_hooks.bp)
    app.register_blueprint(bridge_hooks.bp)
    app.register_blueprint(survey_hooks.bp)
    app.register_blueprint(client_hooks.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(kb_api.bp)
    app.register_blueprint(records.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(supervision_api.bp)
    app.register_blueprint(care.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(softphone.bp)
    app.register_blueprint(admin.bp)
    _init_realtime(app, services)
    prometheus.init_app(app, services)
    if settings.simulator:
        from callcenter.simulator import phone_page
        from callcenter.simulator.recordings import RecordingStore
        from callcenter.simulator.rest.api import create_switchboard_api
        from callcenter.simulator.rest.recordings import create_simulator_api
        from callcenter.simulator.switchboard import Switchboard
        from callcenter.simulator.transports import WsgiTransport

        store = RecordingStore(settings.path(settings.instance_dir) / "simulator" / "recordings")
        services.extras["simulator_recordings"] = store
        app.register_blueprint(
            create_simulator_api(store, settings.twilio_account_sid, settings.twilio_auth_token),
            url_prefix="/simulator",
        )
        board = Switchboard(
            WsgiTransport(app),
            public_url=settings.public_url,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_url=settings.twilio_api_url,
        )
        services.extras["simulator_switchboard"] = board
        phone_page.init_app(
            app,
            phone_page.PhoneSetup(
                board=board,
                public_url=settings.public_url,
                account_sid=settings.twilio_account_sid,
                auth_token=settings.twilio_auth_token,
                api_url=settings.twilio_api_url,
                numbers=tuple(settings.numbers),
            ),
        )
        app.register_blueprint(
            create_switchboard_api(
                board,
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                numbers=settings.answered_numbers,
            ),
            url_prefix="/simulator",
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | HTTPException:
        if isinstance(exc, HTTPException):
            return exc
        log.exception("unhandled error on %s %s", request.method, request.path)
        if request.path.startswith("/twilio/"):
            return twilio_hooks.apology_response()
        return Response("internal error", status=500, content_type="text/plain")

    return app
