"""The caller's leg: one simulated call and the TwiML interpreter that plays it.

:mod:`~callcenter.simulator.leg.call` holds :class:`SimulatedCall` (the driver: state, run
loop and the table of verb handlers) and :func:`place_call`; each verb family has a module
of its own (:mod:`speech` for ``<Say>``/``<Play>``/``<Pause>``, :mod:`gather`,
:mod:`record`, :mod:`enqueue`, :mod:`dial` with ``<Dial><Conference>``, :mod:`control` for
``<Redirect>``/``<Hangup>``/``<Reject>``/``<Leave>`` and the REST side's interventions).
"""
