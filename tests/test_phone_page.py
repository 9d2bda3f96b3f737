from callcenter.simulator.phone import format_event

def test_explore(phone, app):
    r = phone(from_="+15005550006", inputs=["1", "0"], hold_seconds=30)
    print(r.transcript())
    r = phone(from_="+8613800138000", inputs=["2", "0"], hold_seconds=30)
    print(r.transcript())
    for e in r.events: print(e)
