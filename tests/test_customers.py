"""Caller-ID classification, customer look-ups and the all-or-nothing CSV import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.db import Base, Database
from callcenter.models import Customer, CustomerPhone
from callcenter.people.customers import (
    CallerId,
    CustomerImportError,
    ImportReport,
    classify_caller,
    find_customer_by_account,
    find_customer_by_number,
    import_customers_csv,
    normalize_phone,
)

DEMO_CSV = Path(__file__).resolve().parent.parent / "demo" / "customers.csv"
HEADER = "name,phone,tier,language,account,notes\n"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.sessions() as s:
        yield s


def customer_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Customer)) or 0


def phone_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(CustomerPhone)) or 0


def write_csv(tmp_path: Path, text: str, name: str = "c.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def import_errors(session: Session, source: object, **kwargs: object) -> list[str]:
    with pytest.raises(CustomerImportError) as info:
        import_customers_csv(session, source, **kwargs)  # type: ignore[arg-type]
    return info.value.errors


# --------------------------------------------------------------------------- caller ID


@pytest.mark.parametrize(
    ("raw", "kind", "number"),
    [
        ("+8613800138000", "pstn", "+8613800138000"),
        (" +44 20 7946 0958 ", "pstn", "+442079460958"),
        ("+12125550147", "pstn", "+12125550147"),
        ("anonymous", "anonymous", None),
        ("Anonymous", "anonymous", None),
        ("ANONYMOUS", "anonymous", None),
        ("+266696687", "anonymous", None),
        ("restricted", "anonymous", None),
        ("Restricted", "anonymous", None),
        ("unknown", "anonymous", None),
        ("", "anonymous", None),
        ("   ", "anonymous", None),
        ("+7378742833", "anonymous", None),
        ("+8656696", "anonymous", None),
        ("client:alice", "client", None),
        ("Client:alice", "client", None),
        ("sip:bob@example.com", "sip", None),
        ("sip:+8613800138000@trunk.example.com", "sip", None),
        ("+1555", "pstn", None),
        ("+86123", "pstn", None),
        ("not a number", "pstn", None),
        ("13800138000", "pstn", None),  # no country code and no default region
    ],
)
def test_classify_caller(raw: str, kind: str, number: str | None) -> None:
    assert classify_caller(raw) == CallerId(kind=kind, number=number, raw=raw)


def test_classify_caller_default_region() -> None:
    assert classify_caller("13800138000", default_region="CN") == CallerId(
        "pstn", "+8613800138000", "13800138000"
    )
    assert classify_caller("020 7946 0958", default_region="GB").number == "+442079460958"


def test_caller_id_is_frozen() -> None:
    caller = classify_caller("+8613800138000")
    with pytest.raises(AttributeError):
        caller.kind = "sip"  # type: ignore[misc]


def test_normalize_phone() -> None:
    assert normalize_phone("+86 138 0013 8000") == "+8613800138000"
    assert normalize_phone("(212) 555-0147", "US") == "+12125550147"
    with pytest.raises(ValueError, match="not a valid phone number"):
        normalize_phone("+8612345")
    with pytest.raises(ValueError, match="country code"):
        normalize_phone("13800138000")
    with pytest.raises(ValueError, match="empty"):
        normalize_phone("  ")


# --------------------------------------------------------------------------- demo import


def test_import_demo_csv(session: Session) -> None:
    report = import_customers_csv(session, DEMO_CSV)
    session.commit()

    assert report == ImportReport(created=40, updated=0, unchanged=0)
    assert customer_count(session) == 40
    assert phone_count(session) == 46

    wang = find_customer_by_number(session, "+8613800138000")
    assert wang is not None
    assert wang.name == "王伟"
    assert wang.tier == "vip"
    assert wang.language == "zh-CN"
    assert wang.account_code == "ACME-1001"
    assert wang.notes.startswith("延保客户，两台电视在保")

    hotel = find_customer_by_account(session, " hotel-3001 ")
    assert hotel is not None
    assert hotel.name == "Grandview Hotels Group"
    assert hotel.tier == "vip"
    assert [p.number for p in hotel.phones] == ["+12125550199", "+13125550177"]
    assert "1,200 in-room TVs" in hotel.notes
    assert find_customer_by_number(session, "+13125550177") is hotel

    zhang = find_customer_by_number(session, "+861087654321")
    assert zhang is not None and zhang.name == "张敏"
    assert sorted(p.number for p in zhang.phones) == ["+861087654321", "+8618611112222"]

    vips = session.scalars(select(Customer.name).where(Customer.tier == "vip")).all()
    assert len(vips) == 6
    assert session.scalar(select(func.count()).where(Customer.tier == "potential")) == 7

    assert find_customer_by_number(session, "+15005550006") is None
    assert find_customer_by_number(session, "+8613900139000") is None
    assert find_customer_by_account(session, "NOPE-1") is None


def test_reimport_same_file_is_unchanged(session: Session) -> None:
    import_customers_csv(session, DEMO_CSV)
    session.commit()
    report = import_customers_csv(session, DEMO_CSV)
    assert report == ImportReport(created=0, updated=0, unchanged=40)
    assert customer_count(session) == 40
    assert phone_count(session) == 46


def test_reimport_updates_without_duplicates(session: Session, tmp_path: Path) -> None:
    import_customers_csv(session, DEMO_CSV)
    session.commit()
    wang_id = find_customer_by_number(session, "+8613800138000").id  # type: ignore[union-attr]

    with DEMO_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["phone"] == "+8613800138000":
            row["name"] = "王伟（总部）"
        elif row["name"] == "Sarah Williams":
            row["tier"] = "VIP"  # case-insensitive
        elif row["name"] == "李娜":
            row["phone"] = "+8613912345678;+8613011112222"  # a second number added
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    changed = write_csv(tmp_path, out.getvalue(), "changed.csv")

    report = import_customers_csv(session, changed)
    session.commit()

    assert report == ImportReport(created=0, updated=3, unchanged=37)
    assert customer_count(session) == 40
    assert phone_count(session) == 47
    wang = find_customer_by_account(session, "acme-1001")
    assert wang is not None and wang.id == wang_id
    assert wang.name == "王伟（总部）"
    sarah = find_customer_by_number(session, "+16175550199")
    assert sarah is not None and sarah.tier == "vip"
    li = find_customer_by_number(session, "+8613011112222")
    assert li is not None and li.name == "李娜"
    assert [p.number for p in li.phones] == ["+8613912345678", "+8613011112222"]


def test_reimport_matches_by_account_and_replaces_phones(session: Session, tmp_path: Path) -> None:
    first = write_csv(tmp_path, HEADER + "Acme Shop,+12125550147;+12125550148,vip,en,acme-9,\n")
    import_customers_csv(session, first)
    session.commit()
    shop = find_customer_by_account(session, "ACME-9")
    assert shop is not None and shop.account_code == "ACME-9"

    second = write_csv(
        tmp_path, HEADER + "Acme Shop Ltd,+12125550149,,,ACME-9,new number\n", "second.csv"
    )
    report = import_customers_csv(session, second)
    session.commit()
    assert report == ImportReport(created=0, updated=1, unchanged=0)
    assert customer_count(session) == 1
    session.refresh(shop)
    assert shop.name == "Acme Shop Ltd"
    assert shop.tier == "vip"  # blank tier keeps the existing tier
    assert shop.language == "en"
    assert shop.notes == "new number"
    assert [p.number for p in shop.phones] == ["+12125550149"]
    assert find_customer_by_number(session, "+12125550147") is None


def test_phone_moves_between_customers(session: Session, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path,
        HEADER
        + "王伟,+8613800138000;+8613811112222,vip,zh-CN,ACME-1001,\n"
        + "李娜,+8613912345678,normal,zh-CN,ACME-1002,\n",
    )
    import_customers_csv(session, first)
    session.commit()

    # The spare SIM now belongs to 李娜.
    second = write_csv(
        tmp_path, HEADER + "李娜,+8613912345678|+8613811112222,,,ACME-1002,\n", "move.csv"
    )
    report = import_customers_csv(session, second)
    session.commit()

    assert report == ImportReport(created=0, updated=1, unchanged=0)
    assert customer_count(session) == 2
    assert phone_count(session) == 3
    wang = find_customer_by_account(session, "ACME-1001")
    li = find_customer_by_account(session, "ACME-1002")
    assert wang is not None and li is not None
    session.refresh(wang)
    session.refresh(li)
    assert [p.number for p in wang.phones] == ["+8613800138000"]
    assert sorted(p.number for p in li.phones) == ["+8613811112222", "+8613912345678"]
    assert find_customer_by_number(session, "+8613811112222") is li


def test_phone_moves_to_new_customer(session: Session, tmp_path: Path) -> None:
    first = write_csv(tmp_path, HEADER + "Old Owner,+447400123456,normal,en,OLD-1,\n")
    import_customers_csv(session, first)
    session.commit()

    second = write_csv(tmp_path, HEADER + "New Owner,+447400123456,,en,NEW-1,\n", "new.csv")
    report = import_customers_csv(session, second)
    session.commit()

    assert report == ImportReport(created=1, updated=0, unchanged=0)
    assert customer_count(session) == 2
    owner = find_customer_by_number(session, "+447400123456")
    assert owner is not None and owner.name == "New Owner" and owner.tier == "normal"
    old = find_customer_by_account(session, "OLD-1")
    assert old is not None
    session.refresh(old)
    assert old.phones == []


def test_match_by_phone_without_account(session: Session, tmp_path: Path) -> None:
    first = write_csv(tmp_path, HEADER + "Emily Johnson,+12125550147,normal,en,,\n")
    import_customers_csv(session, first)
    session.commit()
    second = write_csv(
        tmp_path, HEADER + "Emily Johnson-Reed,(212) 555-0147,potential,en,,\n", "second.csv"
    )
    report = import_customers_csv(session, second, default_region="US")
    session.commit()
    assert report == ImportReport(created=0, updated=1, unchanged=0)
    assert customer_count(session) == 1
    emily = find_customer_by_number(session, "+12125550147")
    assert emily is not None
    assert (emily.name, emily.tier) == ("Emily Johnson-Reed", "potential")


def test_numbers_swapped_between_customers(session: Session, tmp_path: Path) -> None:
    first = write_csv(tmp_path, HEADER + "A,+12125550147,,,ACME-1,\nB,+12125550148,,,ACME-2,\n")
    import_customers_csv(session, first)
    session.commit()
    swap = write_csv(
        tmp_path, HEADER + "A,+12125550148,,,ACME-1,\nB,+12125550147,,,ACME-2,\n", "swap.csv"
    )
    assert import_customers_csv(session, swap) == ImportReport(created=0, updated=2, unchanged=0)
    session.commit()
    assert phone_count(session) == 2
    owners = {
        number: getattr(find_customer_by_number(session, number), "account_code", None)
        for number in ("+12125550147", "+12125550148")
    }
    assert owners == {"+12125550147": "ACME-2", "+12125550148": "ACME-1"}


def test_new_account_code_attaches_to_phone_match_without_account(
    session: Session, tmp_path: Path
) -> None:
    import_customers_csv(session, write_csv(tmp_path, HEADER + "王伟,+8613800138000,,zh-CN,,\n"))
    session.commit()
    text = HEADER + "王伟,+8613800138000,vip,,ACME-1001,\n"
    report = import_customers_csv(session, write_csv(tmp_path, text, "acct.csv"))
    session.commit()
    assert report == ImportReport(created=0, updated=1, unchanged=0)
    assert customer_count(session) == 1
    wang = find_customer_by_account(session, "ACME-1001")
    assert wang is not None
    assert (wang.name, wang.tier, wang.language) == ("王伟", "vip", "zh-CN")


# --------------------------------------------------------------------------- rejections


def test_bad_rows_reported_by_line_and_nothing_written(session: Session, tmp_path: Path) -> None:
    import_customers_csv(session, DEMO_CSV)
    session.commit()
    before = customer_count(session)
    wang_before = find_customer_by_number(session, "+8613800138000")
    assert wang_before is not None

    text = (
        HEADER
        + "王伟（改名）,+8613800138000,vip,zh-CN,ACME-1001,\n"  # line 2: valid update
        + "Bad Tier,+12125550111,gold,en,,\n"  # line 3
        + "Bad Phone,+8612345,normal,zh-CN,,\n"  # line 4
        + ",+12125550112,normal,en,,\n"  # line 5: missing name
        + "\n"  # line 6: blank, skipped but counted
        + "Dup One,+12125550113,normal,en,,\n"  # line 7
        + "Dup Two,+1 212 555 0113,normal,en,,\n"  # line 8: same phone as line 7
        + "Wrong Lang,+12125550114,normal,fr,,\n"  # line 9
        + '"Multi\nLine",+12125550115,normal,xx,,\n'  # lines 10-11: reported at line 10
        + "Bad Account,+12125550116,normal,en,AC!ME,\n"  # line 12
        + "New Person,+12125550117,normal,en,,\n"  # line 13: valid
    )
    errors = import_errors(session, write_csv(tmp_path, text))

    assert errors == [
        "line 3: tier: 'gold' is not one of vip, normal, potential",
        "line 4: phone: '+8612345' is not a valid phone number",
        "line 5: name: required",
        "line 8: phone: +12125550113 is already listed on line 7",
        "line 9: language: 'fr' is not one of en, zh-CN",
        "line 10: language: 'xx' is not one of en, zh-CN",
        "line 12: account: 'AC!ME' must be 2-40 characters of A-Z, 0-9 and '-'",
    ]
    assert not session.new and not session.dirty and not session.deleted
    session.rollback()
    assert customer_count(session) == before
    assert phone_count(session) == 46
    wang = find_customer_by_number(session, "+8613800138000")
    assert wang is not None and wang.name == "王伟"
    assert find_customer_by_number(session, "+12125550117") is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Bad Tier,+12125550111,gold,en,,", "line 3: tier: 'gold' is not one of"),
        ("Bad Phone,12345,normal,en,,", "line 3: phone: '12345' is not a valid phone number"),
        (",+12125550111,normal,en,,", "line 3: name: required"),
        ("Dup,+8613800138000,normal,en,,", "line 3: phone: +8613800138000 is already listed on"),
        ("Lang,+12125550111,normal,de,,", "line 3: language: 'de' is not one of en, zh-CN"),
        ("Few,+12125550111,normal", "line 3: row: has 3 fields, expected 6"),
        ("No Phone,,normal,en,,", "line 3: phone: required when account is blank"),
        ("Dup Acct,+12125550111,normal,en,acme-1,", "line 3: account: ACME-1 is already used"),
    ],
)
def test_single_bad_row(session: Session, tmp_path: Path, row: str, message: str) -> None:
    text = HEADER + "王伟,+8613800138000,vip,zh-CN,ACME-1,\n" + row + "\n"
    errors = import_errors(session, write_csv(tmp_path, text))
    assert len(errors) == 1
    assert errors[0].startswith(message)
    session.rollback()
    assert customer_count(session) == 0
    assert phone_count(session) == 0


def test_unknown_and_missing_columns(session: Session, tmp_path: Path) -> None:
    text = "name,phone,tier,language,account,notes,email\n王伟,+8613800138000,,,,,a@b.c\n"
    assert import_errors(session, write_csv(tmp_path, text)) == [
        "line 1: header: unknown column 'email' (expected name,phone,tier,language,account,notes)"
    ]
    text = "name,phone,tier\n王伟,+8613800138000,vip\n"
    assert import_errors(session, write_csv(tmp_path, text, "m.csv")) == [
        "line 1: header: missing column(s) language, account, notes"
    ]
    assert import_errors(session, write_csv(tmp_path, "", "empty.csv")) == [
        "line 1: header: missing; expected name,phone,tier,language,account,notes"
    ]
    session.rollback()
    assert customer_count(session) == 0


def test_two_rows_matching_the_same_customer(session: Session, tmp_path: Path) -> None:
    import_customers_csv(session, write_csv(tmp_path, HEADER + "A,+12125550147,,,ACME-1,\n"))
    session.commit()
    text = HEADER + "A,,,,ACME-1,\nA again,+12125550147,,,,\n"
    errors = import_errors(session, write_csv(tmp_path, text, "two.csv"))
    assert len(errors) == 1
    assert errors[0].startswith("line 3: row: matches the same existing customer")
    assert errors[0].endswith("as line 2")
    session.rollback()
    shop = find_customer_by_account(session, "ACME-1")
    assert shop is not None and shop.name == "A"


def test_not_utf8_is_rejected(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes(HEADER.encode() + "王伟,+8613800138000,,,,\n".encode("gbk"))
    errors = import_errors(session, path)
    assert len(errors) == 1
    assert errors[0].startswith("line 2: file: not valid UTF-8")


# --------------------------------------------------------------------------- encodings and inputs


def test_bom_is_handled(session: Session, tmp_path: Path) -> None:
    text = HEADER + "王伟,+8613800138000,VIP,zh-cn,acme-1001,延保客户\n"
    path = write_csv(tmp_path, text, bom=True)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    report = import_customers_csv(session, path)
    assert report == ImportReport(created=1, updated=0, unchanged=0)
    wang = find_customer_by_number(session, "+8613800138000")
    assert wang is not None
    assert (wang.name, wang.tier, wang.language, wang.account_code, wang.notes) == (
        "王伟",
        "vip",
        "zh-CN",
        "ACME-1001",
        "延保客户",
    )


def test_bom_in_text_and_binary_file_objects(session: Session) -> None:
    text = "\ufeff" + HEADER + "Emily Johnson,+12125550147,,en,,\n"
    assert import_customers_csv(session, io.StringIO(text)).created == 1
    data = b"\xef\xbb\xbf" + (HEADER + "李娜,+8613912345678,,zh-CN,,\n").encode()
    assert import_customers_csv(session, io.BytesIO(data)).created == 1
    assert customer_count(session) == 2
    li = find_customer_by_number(session, "+8613912345678")
    assert li is not None and li.name == "李娜" and li.tier == "normal"


def test_custom_languages_and_crlf(session: Session, tmp_path: Path) -> None:
    text = HEADER.replace("\n", "\r\n") + "Zhang Wei,+8613800138000,,yue,,\r\n"
    text += "Li Na,+8613912345678,,en,,\r\n"
    path = write_csv(tmp_path, text)
    errors = import_errors(session, path, languages=("zh-CN",))
    assert errors == [
        "line 2: language: 'yue' is not one of zh-CN",
        "line 3: language: 'en' is not one of zh-CN",
    ]
    report = import_customers_csv(session, path, languages=("en", "zh-CN", "yue"))
    assert report.created == 2


def test_import_does_not_commit(db: Database) -> None:
    with db.sessions() as s:
        import_customers_csv(s, DEMO_CSV)
        assert customer_count(s) == 40
        s.rollback()
        assert customer_count(s) == 0
