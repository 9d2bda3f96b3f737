"""The simulator's slice of Twilio's REST API, one module per resource.

:func:`~callcenter.simulator.rest.api.create_switchboard_api` answers Calls (and their
Recordings), Conferences, Participants and Messages from the switchboard;
:func:`~callcenter.simulator.rest.recordings.create_simulator_api` serves the recording store.
"""
