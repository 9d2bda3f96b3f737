from conftest import OPEN_TIME


def test_vip_reaches_a_queue(phone, clock):
    clock.now = OPEN_TIME
    result = phone(from_="+8613800138000", inputs=["1"])
    print(result.transcript())
    assert "enqueue" in result.kinds()
