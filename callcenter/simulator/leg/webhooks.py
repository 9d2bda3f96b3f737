"""The call's requests to the app: TwiML fetches and callbacks (part of :class:`SimulatedCall`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping

from callcenter.simulator.leg.common import APPLICATION_ERROR_MESSAGE, Fetch, _CallOver, _country
from callcenter.simulator.transports import (
    API_VERSION,
    TransportError,
    TransportResponse,
    send_signed,
)


class Webhooks:
    """Signed requests on behalf of the call, written down in its exchanges."""

    def call_params(self) -> dict[str, str]:
        """Twilio's standard voice webhook parameters for the call's current state."""
        from_country, to_country = _country(self.from_), _country(self.to)
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.call_sid,
            "CallStatus": self.status,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "FromCountry": from_country,
            "ToCountry": to_country,
            "CallerCountry": from_country,
            "CalledCountry": to_country,
            **({"ParentCallSid": self.parent_call_sid} if self.parent_call_sid else {}),
        }

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return self.validator.compute_signature(url, dict(params))

    def _send(
        self,
        url: str,
        method: str,
        params: dict[str, str],
        *,
        kind: str,
    ) -> TransportResponse:
        """A signed Twilio-style request; raises TransportError."""
        return send_signed(
            self.transport, self.validator, url, method, params, kind=kind, exchanges=self.exchanges
        )

    def _notify(self, url: str, method: str, params: dict[str, str]) -> None:
        """A callback whose answer doesn't matter (its failures are only noted)."""
        try:
            response = self._send(url, method, params, kind="callback")
        except TransportError as exc:
            self._event("warning", str(exc), url=url)
            return
        if not 200 <= response.status_code < 300:
            self._event("warning", f"{url} answered HTTP {response.status_code}", url=url)

    def _app_error(self, reason: str, url: str) -> _CallOver:
        self._event("error", APPLICATION_ERROR_MESSAGE, reason=reason, url=url)
        return _CallOver(f"application error: {reason}")

    def _fetch_twiml(self, fetch: Fetch) -> tuple[str, ET.Element]:
        """Request a TwiML document; returns (its URL for relative links, its root)."""
        if self.steps >= self.max_steps:
            self._event(
                "loop",
                f"more than {self.max_steps} webhook requests, the TwiML seems to loop",
                steps=self.steps,
            )
            raise _CallOver(f"stopped after {self.max_steps} requests (loop)")
        self.steps += 1
        if fetch.twiml is not None:
            if self.status in ("ringing", "queued"):
                self.status = "in-progress"
            try:
                root = ET.fromstring(fetch.twiml)
            except ET.ParseError:
                raise self._app_error("the TwiML is not XML", "(inline TwiML)") from None
            if root.tag != "Response":
                raise self._app_error(f"root element is <{root.tag}>, not <Response>", fetch.url)
            return fetch.url, root
        params = {**self.call_params(), **fetch.params}
        try:
            response = self._send(fetch.url, fetch.method, params, kind="webhook")
        except TransportError as exc:
            raise self._app_error(str(exc), fetch.url) from None
        finally:
            if self.status == "ringing":
                self.status = "in-progress"
        if fetch.after is not None:
            fetch.after()
        if response.status_code != 200:
            raise self._app_error(f"HTTP {response.status_code}", fetch.url)
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            raise self._app_error("response is not XML", fetch.url) from None
        if root.tag != "Response":
            raise self._app_error(f"root element is <{root.tag}>, not <Response>", fetch.url)
        self._doc_url = fetch.url
        return fetch.url, root
