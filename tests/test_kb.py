"""Knowledge base: article parsing and loading, the SQL index, and search (English,
Chinese, mixed, hostile input, HTML-safe snippets) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.db import Base, Database

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "knowledge_base"
WARRANTY_EN = {
    "warranty-coverage",
    "extended-warranty",
    "warranty-claim",
    "out-of-warranty-repairs",
}
WARRANTY_ZH = {"warranty-policy-zh", "extended-warranty-zh", "accidental-damage-zh"}

ARTICLE = """\
---
id: {id}
title: {title}
tags: [test]
language: {language}
intents: [repairs.warranty_info]
summary: A short summary.
---
{body}
"""


@pytest.fixture(scope="session")
def kb(_template_database: str) -> Iterator[ModuleType]:
    """The kb module, its tables created in the test database until the session ends.

    Imported here rather than at module level: the PostgreSQL fixture truncates every
    table in ``Base.metadata``, so the kb tables must exist before they are registered.
    Only tables this fixture created are dropped (once a migration creates them, none).
    """
    from callcenter.knowledge import articles as module
    from callcenter.knowledge.models import KB_TABLES

    url = _template_database if "://" in _template_database else f"sqlite:///{_template_database}"
    database = Database(url)
    existing = set(inspect(database.engine).get_table_names())
    created = [table for table in KB_TABLES if table.name not in existing]
    Base.metadata.create_all(database.engine, tables=created)
    database.dispose()
    yield module
    database = Database(url)
    Base.metadata.drop_all(database.engine, tables=created)
    database.dispose()


@pytest.fixture
def db(kb: ModuleType, database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def indexed(kb: ModuleType, db: Database) -> Iterator[Session]:
    """A session on a database holding the shipped knowledge base."""
    articles, errors = kb.load_articles(KB_DIR)
    assert errors == []
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        yield session


def variant(old: str, new: str) -> str:
    """A valid article with `old` replaced by `new`."""
    return ARTICLE.format(id="ok", title="t", language="en", body="b").replace(old, new)


def write(directory: Path, name: str, **fields: Any) -> Path:
    values = {"id": name, "title": "A title", "language": "en", "body": "Some body text."}
    values.update(fields)
    path = directory / f"{name}.md"
    path.write_text(ARTICLE.format(**values), encoding="utf-8")
    return path


def ids(hits: list[Any]) -> list[str]:
    return [hit.id for hit in hits]


# --- parsing and loading -----------------------------------------------------------------


def test_shipped_articles_all_parse(kb: ModuleType) -> None:
    articles, errors = kb.load_articles(KB_DIR)
    assert errors == []
    assert len(articles) >= 30
    assert len({article.id for article in articles}) == len(articles)
    by_language = {lang: [a for a in articles if a.language == lang] for lang in ("en", "zh-CN")}
    assert len(by_language["en"]) >= 14
    assert len(by_language["zh-CN"]) >= 14
    for article in articles:
        assert article.summary and article.body and article.tags and article.intents
        assert kb.parse_article(article.path) == article
        assert len(article.summary) <= 200  # short enough to speak on the phone


def test_shipped_intents_name_real_flow_nodes(kb: ModuleType) -> None:
    import yaml

    nodes = set()
    for flow_file in (ROOT / "ivr_flows").glob("*.yaml"):
        flow = yaml.safe_load(flow_file.read_text(encoding="utf-8"))
        nodes |= {f"{flow['flow']}.{node}" for node in flow["nodes"]}
    # Besides flow nodes, `ticket.<category>[.<kind>]` (docs/knowledge-base.md): callers
    # with an open ticket of a category in config.yaml.
    tickets = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))["tickets"]
    for category, spec in tickets["categories"].items():
        nodes.add(f"ticket.{category}")
        nodes |= {f"ticket.{category}.{kind}" for kind in (spec.get("kinds") or {})}
    articles, _ = kb.load_articles(KB_DIR)
    unknown = {(a.id, i) for a in articles for i in a.intents if i not in nodes}
    assert unknown == set()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("no front matter here\n", "front_matter"),
        ("---\nid: [unclosed\n---\nbody\n", "front_matter"),
        ("---\n- a list\n---\nbody\n", "front_matter"),
        (ARTICLE.format(id="Bad Slug", title="t", language="en", body="b"), "id"),
        (ARTICLE.format(id="ok", title="t", language="fr", body="b"), "language"),
        (ARTICLE.format(id="ok", title="t", language="en", body=""), "body"),
        (variant("tags: [test]", "tags: test"), "tags"),
        (variant("summary: A short summary.\n", ""), "summary"),
        (variant("tags:", "author: me\ntags:"), "author"),
        (ARTICLE.format(id=123, title="t", language="en", body="b"), "id"),
        (variant("repairs.warranty_info", "Not An Intent"), "intents.0"),
    ],
)  # fmt: skip
def test_invalid_article_reported_others_load(
    kb: ModuleType, tmp_path: Path, text: str, field: str
) -> None:
    write(tmp_path, "good-one")
    bad = tmp_path / "bad.md"
    bad.write_text(text, encoding="utf-8")
    articles, errors = kb.load_articles(tmp_path)
    assert ids(articles) == ["good-one"]
    assert len(errors) == 1
    error = errors[0]
    assert (error.path, error.field) == (str(bad), field)
    assert str(error) == f"{bad}: {field}: {error.message}"
    with pytest.raises(kb.ArticleError) as raised:
        kb.parse_article(bad)
    assert raised.value.field == field


def test_duplicate_id_reported(kb: ModuleType, tmp_path: Path) -> None:
    first = write(tmp_path, "a-first", id="same")
    second = write(tmp_path, "b-second", id="same")
    write(tmp_path, "other")
    articles, errors = kb.load_articles(tmp_path)
    assert sorted(ids(articles)) == ["other", "same"]
    assert [a.path for a in articles if a.id == "same"] == [str(first)]
    assert len(errors) == 1
    assert (errors[0].path, errors[0].field) == (str(second), "id")
    assert "duplicate" in str(errors[0])


def test_languages_restrict_what_loads(kb: ModuleType) -> None:
    articles, errors = kb.load_articles(KB_DIR, languages=["en"])
    assert articles and all(a.language == "en" for a in articles)
    assert errors and all(e.field == "language" for e in errors)


def test_tokenizer(kb: ModuleType) -> None:
    assert kb.tokenize("Repairs repaired repairing REPAIR") == ["repair"] * 4
    assert kb.tokenize("warranties boxes shipping shipped") == ["warranty", "box", "ship", "ship"]
    assert kb.tokenize("保修政策") == ["保修", "修政", "政策"]
    assert kb.tokenize("修") == ["修"]
    assert kb.tokenize("iPhone屏幕") == ["iphone", "屏幕"]
    assert kb.tokenize("'; DROP TABLE x; -- 😀 %_") == ["drop", "table", "x"]


# --- sync ---------------------------------------------------------------------------------


def indexed_terms(session: Session) -> dict[str, str]:
    """What the full-text index holds per article: the FTS5 row's terms (SQLite) or the
    tsvector (PostgreSQL), as text."""
    if session.get_bind().dialect.name == "postgresql":
        query = "SELECT id, CAST(search_vector AS text) FROM kb_articles"
    else:
        query = (
            "SELECT article_id, title || ' | ' || tags || ' | ' || summary || ' | ' || body "
            "FROM kb_fts"
        )
    return dict(session.execute(text(query)).all())


def test_sync_idempotent_update_delete(kb: ModuleType, db: Database, tmp_path: Path) -> None:
    from callcenter.knowledge.models import KbArticle

    write(tmp_path, "keep", body="Battery replacement takes one day.")
    write(tmp_path, "change", body="Old text about shipping.")
    write(tmp_path, "remove", body="Soon gone.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        report = kb.sync(session, articles)
    assert (sorted(report.added), report.updated, report.deleted) == (
        ["change", "keep", "remove"], [], []
    )  # fmt: skip
    with db.session() as session:
        again = kb.sync(session, articles)
    assert again.changes == 0 and again.unchanged == 3
    assert str(again) == "0 added, 0 updated, 0 deleted, 3 unchanged"

    write(tmp_path, "change", body="New text about fapiao invoices.")
    (tmp_path / "remove.md").unlink()
    write(tmp_path, "fresh", body="A brand new article.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        report = kb.sync(session, articles)
    assert (report.added, report.updated, report.deleted, report.unchanged) == (
        ["fresh"], ["change"], ["remove"], 1
    )  # fmt: skip
    with db.session() as session:
        assert kb.sync(session, articles).changes == 0
        assert sorted(session.scalars(select(KbArticle.id))) == ["change", "fresh", "keep"]
        index = indexed_terms(session)
        assert sorted(index) == ["change", "fresh", "keep"]  # one index row per article
        assert "fapiao" in index["change"] and "ship" not in index["change"]
        assert "ship" not in " ".join(index.values())
        assert ids(kb.search(session, "invoice")) == ["change"]
        assert kb.search(session, "shipping") == []
        assert kb.search(session, "gone") == []


def test_search_empty_index(kb: ModuleType, db: Database) -> None:
    with db.session() as session:
        assert kb.search(session, "warranty") == []
        assert kb.sync(session, []).changes == 0


# --- search -------------------------------------------------------------------------------


def test_search_warranty_ranks_warranty_articles_first(kb: ModuleType, indexed: Session) -> None:
    hits = kb.search(indexed, "warranty")
    assert set(ids(hits)[:4]) == WARRANTY_EN
    assert "warranty-coverage" in ids(hits)[:3]
    assert all(0 < hit.score < 1 for hit in hits)
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert "<mark>warranty</mark>" in hits[0].snippet.lower()
    assert kb.search(indexed, "Warranties")[0].id in WARRANTY_EN


def test_search_chinese_warranty(kb: ModuleType, indexed: Session) -> None:
    hits = kb.search(indexed, "保修")
    assert set(ids(hits)[:3]) == WARRANTY_ZH
    assert all(hit.language == "zh-CN" for hit in hits)
    assert "<mark>保修</mark>" in hits[0].snippet
    phrase = kb.search(indexed, "延长保修期")
    assert phrase[0].id == "extended-warranty-zh"


def test_search_single_chinese_character(kb: ModuleType, indexed: Session) -> None:
    hits = kb.search(indexed, "票")
    assert {"fapiao-zh", "fapiao-change-zh"} <= set(ids(hits)[:3])
    assert "<mark>票</mark>" in hits[0].snippet


def test_search_mixed_query(kb: ModuleType, indexed: Session) -> None:
    hits = kb.search(indexed, "fapiao 发票 invoice")
    assert set(ids(hits)[:3]) == {"invoices-vat", "fapiao-zh", "fapiao-change-zh"}
    hits = kb.search(indexed, "how do I return my order?")
    assert hits[0].id == "returns-policy"


def test_search_language_filter(kb: ModuleType, indexed: Session) -> None:
    english = kb.search(indexed, "warranty 保修", language="en")
    chinese = kb.search(indexed, "warranty 保修", language="zh-CN")
    assert english and all(hit.language == "en" for hit in english)
    assert chinese and all(hit.language == "zh-CN" for hit in chinese)
    assert ids(english)[0] in WARRANTY_EN and ids(chinese)[0] in WARRANTY_ZH
    assert kb.search(indexed, "保修", language="en") == []
    assert kb.search(indexed, "warranty", language="fr") == []


def test_search_limit(kb: ModuleType, indexed: Session) -> None:
    assert len(kb.search(indexed, "repair", limit=2)) == 2
    assert kb.search(indexed, "repair", limit=0) == []
    assert kb.search(indexed, "repair", limit=-5) == []


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "%",
        "_",
        "%_%",
        "'",
        '"',
        "\\",
        "'; DROP TABLE kb_terms; --",
        "' OR '1'='1",
        "warranty' OR 1=1 --",
        "😀🔥",
        "\x00\x01",
        "a" * 10_000,
        "保修 " * 5_000,
        "<script>alert('x')</script>",
    ],
)
def test_hostile_queries_are_safe(kb: ModuleType, indexed: Session, query: str) -> None:
    hits = kb.search(indexed, query)
    assert isinstance(hits, list)
    assert len(hits) <= 10
    for hit in hits:
        assert "<script" not in hit.snippet
        assert 0 < hit.score < 1
    # The index is intact afterwards.
    assert kb.search(indexed, "warranty")[0].id in WARRANTY_EN


@pytest.mark.parametrize(
    "query",
    [
        '"', '""', '"warranty', 'warranty"', '"warranty repair"', "'warranty'",
        "warranty*", "warr*", "^warranty", "-warranty", "+warranty", "warranty:",
        "title:warranty", "body : warranty", "{title body}: warranty", "- {title}: repair",
        "article_id:warranty", "language: en", "kb_fts:warranty",
        "NEAR(warranty repair, 2)", "warranty NEAR repair", "warranty NEAR/2 repair",
        "warranty AND repair", "warranty OR repair", "NOT warranty", "warranty NOT repair",
        "(warranty", "warranty)", "((((", "))))", "warranty) OR (repair",
        "warranty & repair", "warranty | repair", "!warranty", "warranty <-> repair",
        "warranty:*", "warranty:A", "'warranty':*AB", "warranty & !repair", "warranty <2> x",
        "\\warranty", "warranty\\", "warranty\x00repair", "\x00", "'\\''",
        "rank MATCH 'bm25(100)'", "* OR *", "warranty\nOR\nrepair",
        "warranty " * 1_000, "保修" * 1_000, "保修 OR 维修", "保修*", "{保修}:维修",
    ],
)  # fmt: skip
def test_full_text_syntax_in_a_query_is_only_text(
    kb: ModuleType, indexed: Session, query: str
) -> None:
    """Quotes, operators, prefixes, column filters, NEAR, tsquery syntax: none reaches the
    engine as syntax. A query means exactly its terms OR-ed, whatever surrounds them."""
    terms = kb.query_terms(query)
    hits = kb.search(indexed, query)
    assert ids(hits) == ids(kb.search(indexed, " ".join(terms)))
    assert [hit.score for hit in hits] == [hit.score for hit in kb.search(indexed, " ".join(terms))]
    for hit in hits:
        assert 0 < hit.score < 1


def test_query_words_that_are_full_text_operators(
    kb: ModuleType, db: Database, tmp_path: Path
) -> None:
    """NEAR, NOT and friends are ordinary words in a query (and/or are stop words)."""
    write(tmp_path, "near", body="The service centre is near the station.")
    write(tmp_path, "not", body="Batteries are not covered after two years.")
    write(tmp_path, "other", body="Nothing to see here.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        assert ids(kb.search(session, "NEAR")) == ["near"]
        assert ids(kb.search(session, "not")) == ["not"]
        assert ids(kb.search(session, "NEAR(station)")) == ["near"]
        assert set(ids(kb.search(session, "near NOT covered"))) == {"near", "not"}


def test_language_filter_uses_the_index(kb: ModuleType, db: Database, tmp_path: Path) -> None:
    write(tmp_path, "screen-en", body="Screen repair takes two days.")
    write(tmp_path, "screen-zh", language="zh-CN", body="屏幕维修（screen repair）需要两天。")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        assert set(ids(kb.search(session, "screen repair"))) == {"screen-en", "screen-zh"}
        assert ids(kb.search(session, "screen repair", language="en")) == ["screen-en"]
        assert ids(kb.search(session, "screen repair", language="zh-CN")) == ["screen-zh"]
        assert ids(kb.search(session, "屏幕", language="zh-CN")) == ["screen-zh"]
        assert kb.search(session, "屏幕", language="en") == []
        assert kb.search(session, "screen", language="zh") == []
        assert kb.search(session, "screen", language="en' OR '1'='1") == []


def test_resync_after_edit_changes_what_matches(
    kb: ModuleType, db: Database, tmp_path: Path
) -> None:
    write(tmp_path, "edited", title="Courier pickup", body="Couriers collect parcels daily.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        assert ids(kb.search(session, "courier")) == ["edited"]
    write(tmp_path, "edited", title="快递取件", language="zh-CN", body="快递员每天上门取件。")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        assert kb.sync(session, articles).updated == ["edited"]
    with db.session() as session:
        assert kb.search(session, "courier") == []
        [hit] = kb.search(session, "快递", language="zh-CN")
        assert (hit.id, hit.title, hit.language) == ("edited", "快递取件", "zh-CN")
        assert kb.search(session, "快递", language="en") == []
        assert list(indexed_terms(session)) == ["edited"]
    (tmp_path / "edited.md").unlink()
    with db.session() as session:
        assert kb.sync(session, []).deleted == ["edited"]
    with db.session() as session:
        assert kb.search(session, "快递") == []
        assert indexed_terms(session) == {}


# --- top-k ranking (kb_impacts) ----------------------------------------------------------


def stored_impacts(session: Session) -> dict[tuple[str, str, str], float]:
    """The impacts kept, by (term, language, article id)."""
    rows = session.execute(text("SELECT term, language, article_id, impact FROM kb_impacts"))
    return {(term, language, article_id): impact for term, language, article_id, impact in rows}


def test_impacts_are_each_terms_bm25(kb: ModuleType, indexed: Session) -> None:
    """Every kept impact is its term's share of BM25 as FTS5 computes it, whichever way
    it was computed (FTS5 on SQLite, Python on PostgreSQL); on SQLite the scores are
    exactly FTS5's bm25() of the whole query."""
    from callcenter.knowledge import search_index

    articles, _ = kb.load_articles(KB_DIR)
    computed = {
        (term, language, article_id): impact
        for term, language, impact, article_id in search_index._bm25_impacts(
            {article.id: article for article in articles}, {}
        )
    }
    stored = stored_impacts(indexed)
    assert stored.keys() == computed.keys()  # 35 articles: no list is cut
    for key, impact in computed.items():
        assert stored[key] == pytest.approx(impact, rel=1e-9, abs=1e-12)
    if indexed.get_bind().dialect.name != "sqlite":
        return
    weights = ", ".join(str(weight) for weight in kb.FIELD_WEIGHTS.values())
    for query in ("warranty", "battery replacement", "fapiao 发票 invoice", "保修期"):
        terms = " OR ".join(f'"{term}"' for term in kb.query_terms(query))
        exact = indexed.execute(
            text(
                f"SELECT article_id, bm25(kb_fts, 0, 0, {weights}) AS rank FROM kb_fts "
                "WHERE kb_fts MATCH :match ORDER BY rank, article_id LIMIT 10"
            ),
            {"match": "{title tags summary body} : (" + terms + ")"},
        ).all()
        hits = kb.search(indexed, query)
        assert ids(hits) == [article_id for article_id, _ in exact], query
        assert [hit.score for hit in hits] == [
            pytest.approx(-rank / (1 - rank), abs=1e-4) for _, rank in exact
        ]


def test_top_k_keeps_the_obvious_best_article(
    kb: ModuleType, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only 3 articles kept per term, among 20 that hold each term, the article about
    both terms of a query still comes first, and each term's strongest article first."""
    from callcenter.knowledge import search_index

    monkeypatch.setattr(search_index, "IMPACTS_PER_TERM", 3)
    for n in range(20):
        write(tmp_path, f"warranty-{n:02d}", body="The warranty applies. " + "Filler text. " * n)
        write(tmp_path, f"battery-{n:02d}", body="The battery lasts. " + "Filler text. " * n)
    write(
        tmp_path,
        "both",
        title="Warranty for the battery",
        body="The battery warranty covers a battery that fails within the warranty.",
    )
    write(
        tmp_path,
        "strong",
        title="Warranty",
        body="Warranty: warranty terms, warranty claims, warranty.",
    )
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        kept = stored_impacts(session)
        assert sum(term == "warranty" for term, _, _ in kept) == 3
        assert {("warranty", "en", "strong"), ("battery", "en", "both")} <= set(kept)
        assert ids(kb.search(session, "battery warranty"))[0] == "both"
        assert ids(kb.search(session, "warranty"))[0] == "strong"
        assert ids(kb.search(session, "warranty", limit=1)) == ["strong"]
        assert ids(kb.search(session, "battery"))[0] == "both"


def test_resync_keeps_impacts_right(kb: ModuleType, db: Database, tmp_path: Path) -> None:
    """After edits, deletions and additions, the kept impacts (idf and lengths of the
    whole knowledge base included) are those of indexing the articles afresh."""
    write(tmp_path, "keep", title="Warranty", body="The warranty lasts two years.")
    write(tmp_path, "edit", body="The battery warranty lasts one year.")
    write(tmp_path, "gone", body="Warranty for batteries, briefly.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        before = stored_impacts(session)
    write(tmp_path, "edit", body="Invoices and fapiao, no guarantee.")
    (tmp_path / "gone.md").unlink()
    write(tmp_path, "new", body="Every warranty claim needs the receipt.")
    write(tmp_path, "more", body="Receipts prove the date of purchase.")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        report = kb.sync(session, articles)
    assert (report.added, report.updated, report.deleted) == (["more", "new"], ["edit"], ["gone"])
    with db.session() as session:
        after = stored_impacts(session)
        assert kb.sync(session, []).deleted == ["edit", "keep", "more", "new"]
        assert stored_impacts(session) == {}
        kb.sync(session, articles)
    with db.session() as session:
        fresh = stored_impacts(session)
    assert after.keys() == fresh.keys()
    assert after == pytest.approx(fresh, rel=1e-9)
    assert not any(article_id == "gone" for _, _, article_id in after)
    assert ("battery", "en", "edit") not in after and ("fapiao", "en", "edit") in after
    # "keep" did not change, but warranty's idf and the average length did.
    key = ("warranty", "en", "keep")
    assert after[key] != pytest.approx(before[key], rel=1e-6)
    with db.session() as session:
        assert ids(kb.search(session, "battery")) == []
        assert ids(kb.search(session, "fapiao")) == ["edit"]
        assert ids(kb.search(session, "warranty"))[0] == "keep"


def test_impacts_are_kept_per_language(
    kb: ModuleType, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each language keeps its own best articles per term: a Chinese article that
    mentions an English word once is found with the language filter, though five
    English articles hold the word more."""
    from callcenter.knowledge import search_index

    monkeypatch.setattr(search_index, "IMPACTS_PER_TERM", 2)
    for n in range(5):
        write(tmp_path, f"screen-{n}", title="Screen", body="Screen repair. " * (n + 1))
    write(tmp_path, "screen-zh", language="zh-CN", body="屏幕维修需要两天，包括 screen 检测。")
    articles, _ = kb.load_articles(tmp_path)
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        kept = stored_impacts(session)
        languages = sorted(language for term, language, _ in kept if term == "screen")
        assert languages == ["en", "en", "zh-CN"]
        assert ("screen", "zh-CN", "screen-zh") in kept
        assert ids(kb.search(session, "screen", language="zh-CN")) == ["screen-zh"]
        assert len(kb.search(session, "screen", language="en")) == 2
        assert "screen-zh" in ids(kb.search(session, "screen"))
        assert kb.search(session, "屏幕", language="en") == []


def test_upgrade_from_the_postings_table_reindexes(kb: ModuleType, database_url: str) -> None:
    """Migration 0006 on a database indexed the old way: every article's checksum is
    cleared, so the next sync re-indexes all of them into the full-text index; and back."""
    from alembic import command

    from callcenter.migrate import alembic_config, upgrade

    articles, _ = kb.load_articles(KB_DIR)
    database = Database(database_url)
    config = alembic_config(database)
    try:
        with database.session() as session:
            kb.sync(session, articles)
        with database.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
            connection.commit()
        tables = set(inspect(database.engine).get_table_names())
        assert "kb_terms" in tables and "kb_fts" not in tables
        upgrade(database)
        with database.session() as session:
            assert kb.search(session, "warranty") == []  # not re-indexed yet
            report = kb.sync(session, articles)
        assert (len(report.updated), report.added, report.deleted) == (len(articles), [], [])
        with database.session() as session:
            assert kb.search(session, "warranty")[0].id in WARRANTY_EN
            assert kb.sync(session, articles).changes == 0
    finally:
        upgrade(database)
        database.dispose()


def test_query_script_is_never_echoed_unescaped(kb: ModuleType, indexed: Session) -> None:
    hits = kb.search(indexed, "<script>warranty</script>")
    assert hits
    for hit in hits:
        assert "<script" not in hit.snippet
        assert hit.snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_hostile_article_is_escaped(kb: ModuleType, db: Database, tmp_path: Path) -> None:
    write(
        tmp_path,
        "hostile",
        title="<img src=x onerror=alert(1)>",
        body="Warranty <script>alert('pwned')</script> & <b>mark</b> lasts 2 years.",
    )
    articles, errors = kb.load_articles(tmp_path)
    assert errors == []
    with db.session() as session:
        kb.sync(session, articles)
    with db.session() as session:
        for query in ("warranty", "script alert", "mark", "</mark><script>"):
            for hit in kb.search(session, query):
                assert "<script" not in hit.snippet
                assert "<b>" not in hit.snippet
                stripped = hit.snippet.replace("<mark>", "").replace("</mark>", "")
                assert "<" not in stripped and ">" not in stripped
        [hit] = kb.search(session, "warranty")
        assert hit.snippet.startswith("<mark>Warranty</mark> &lt;script&gt;")
        assert "&amp;" in hit.snippet


def test_snippet_long_sentence_is_trimmed(kb: ModuleType) -> None:
    body = ("word " * 200) + "the warranty clause " + ("filler " * 200) + "."
    text = kb.snippet(body, ["warranty"])
    assert "<mark>warranty</mark>" in text
    assert len(text) < kb.SNIPPET_CHARS + 40
    assert kb.snippet("Nothing relevant.", ["warranty"], "Fallback <b>summary</b>") == (
        "Fallback &lt;b&gt;summary&lt;/b&gt;"
    )


def test_kb_sync_command(database_url: str, tmp_path: Path, monkeypatch) -> None:
    """`callcenter kb sync` indexes the folder, reports bad articles and exits 1 for them."""
    from click.testing import CliRunner

    from callcenter.cli import main

    monkeypatch.setenv("CALLCENTER_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLCENTER_SECRET_KEY", "kb-test")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "4" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "kb-token")
    first = CliRunner().invoke(main, ["kb", "sync"])
    assert first.exit_code == 0, first.output
    assert "knowledge base: 45 added, 0 updated, 0 deleted, 0 unchanged" in first.output
    again = CliRunner().invoke(main, ["kb", "sync"])
    assert "0 added, 0 updated, 0 deleted, 45 unchanged" in again.output
