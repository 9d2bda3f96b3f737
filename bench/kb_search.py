"""Knowledge-base search latency: `kb.search` in-process over generated articles.

    .venv/bin/python bench/kb_search.py [--articles 10000] [--rounds 20] [--database-url URL]

Generates realistic after-sales articles (English and Chinese, warranty, repairs, returns,
billing, account and shipping vocabulary plus everyday filler, 100-600 words each, same
seed every run), indexes them with `kb.sync` into a fresh, migrated SQLite file in a
temporary folder (or into `--database-url`, e.g. PostgreSQL: its knowledge base is
emptied first and left holding the generated articles; VACUUM ANALYZE of the knowledge
base's tables follows the sync, as autovacuum would soon after), then times `kb.search`
for a mixed query set after one warm-up pass. One run, queries shuffled in every round.

Prints the sync time and p50/p99 per query kind and overall (milliseconds).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callcenter.db import Database  # noqa: E402
from callcenter.knowledge import articles as kb  # noqa: E402
from callcenter.migrate import upgrade  # noqa: E402


def _words(text: str) -> list[str]:
    return text.split()


TOPICS_EN = {
    "warranty": "warranty warranties coverage covered guarantee defect defects defective "
    "manufacturing faulty claim claims proof purchase receipt extended plan plans "
    "registered registration serial expiry expired void voided lumina two years",
    "repairs": "repair repairs repaired repairing technician technicians service centre "
    "diagnosis diagnostic screen battery batteries replacement replaced keyboard hinge "
    "motherboard turnaround booking booked appointment parts spare quote estimate",
    "returns": "return returns returned returning refund refunds refunded exchange "
    "exchanged unopened packaging label prepaid condition restocking fee days window "
    "eligible eligibility original accessories damaged arrival faulty",
    "billing": "invoice invoices billing bill bills charge charged charges payment payments "
    "card cards credit debit alipay wechat vat tax fapiao instalment instalments "
    "statement overcharged duplicate currency receipt company",
    "account": "account accounts password passwords login log sign verification code "
    "email phone number profile address settings security locked unlock two-factor "
    "delete deletion privacy username reset linked",
    "shipping": "shipping shipped ship delivery deliveries delivered courier couriers "
    "tracking track parcel parcels dispatch dispatched warehouse express standard "
    "address signature customs delayed delay postcode collection",
}
FILLER_EN = _words(
    "please customer product order support team contact help information time days "
    "working business hours request details usually within after before need also may "
    "should must any all more about other new first same only just most some each "
    "every one two three again still soon already often then there here their they "
    "them these those because while since until unless however therefore example "
    "note check sure able available possible necessary important simple quick easy "
    "online store website app message call email hotline agent case reference number "
    "update updated confirm confirmed confirmation process processed step steps "
    "form page link button select choose enter provide include including usually "
    "normally typically directly immediately promptly carefully recommend recommended "
    "keep make take give get see know find want like use used using following below "
    "above section policy terms conditions question questions answer answers issue"
)
_ZIPF: dict[int, list[float]] = {}
RARE_EN = [f"{p}{n}" for p in ("lumina", "x", "pro", "model", "ref") for n in range(100, 400)]

TOPICS_ZH = {
    "warranty": "保修 保修期 免费保修 延长保修 质保 保修卡 发票 购买凭证 序列号 人为损坏 "
    "非人为 故障 性能故障 两年 注册 激活 过保 流明关怀",
    "repairs": "维修 送修 寄修 检测 维修点 工程师 屏幕 电池 更换 主板 键盘 配件 报价 "
    "预约 维修进度 维修周期 返修 备件 换屏 碎屏 进液",
    "returns": "退货 退款 换货 七天无理由 原路退回 包装 配件齐全 运费 退货地址 质量问题 "
    "签收 拒收 审核 退款时效 寄回 快递单号",
    "billing": "发票 电子发票 增值税 专用发票 普通发票 抬头 税号 开票 换开 付款 支付宝 "
    "微信支付 信用卡 分期 扣款 账单 对账 重复扣款",
    "account": "账户 账号 密码 登录 注册 手机号 验证码 邮箱 实名认证 注销 绑定 解绑 "
    "安全 冻结 找回 修改 个人信息 隐私",
    "shipping": "快递 物流 配送 发货 单号 查询 签收 收货地址 顺丰 京东物流 延迟 仓库 "
    "出库 派送 自提 偏远地区 运单",
}
FILLER_ZH = _words(
    "我们 您 可以 如果 请 客服 产品 订单 时间 需要 提供 联系 工作日 服务 处理 相关 信息 "
    "问题 情况 一般 通常 之后 之前 已经 还 也 都 会 将 在 对 与 及 或 并 但 因为 所以 "
    "如需 进一步 确认 完成 申请 提交 页面 官网 应用 热线 人工 帮助 说明 规定 政策 条款 "
    "具体 以 为准 时效 日内 小时 尽快 及时 耐心 感谢 理解 支持"
)
TITLES_EN = {
    "warranty": ["What the warranty covers", "Warranty claims", "Extended warranty plans"],
    "repairs": ["Booking a repair", "Repair turnaround", "Screen and battery repairs"],
    "returns": ["Returning an order", "Refund timing", "Exchanges and returns"],
    "billing": ["Invoices and VAT", "Payment methods", "Duplicate charges"],
    "account": ["Resetting your password", "Account security", "Changing account details"],
    "shipping": ["Tracking a delivery", "Shipping times", "Delayed parcels"],
}
TITLES_ZH = {
    "warranty": ["保修政策说明", "延长保修服务", "保修期查询"],
    "repairs": ["预约维修", "维修周期", "屏幕与电池维修"],
    "returns": ["退货政策", "退款时效", "换货流程"],
    "billing": ["发票开具", "支付方式", "重复扣款处理"],
    "account": ["修改密码", "账户安全", "更换绑定手机号"],
    "shipping": ["物流查询", "配送时效", "快递延迟"],
}
QUERIES = {
    "en 1 word": ["warranty", "refund", "invoice", "password", "courier", "battery",
                  "exchange", "tracking"],
    "en 2-3 words": ["warranty repair", "refund label prepaid", "vat invoice",
                     "reset password email", "delayed parcel", "screen replacement quote",
                     "extended warranty plan", "duplicate charge card"],
    "zh 2-6 chars": ["保修", "退货退款", "发票抬头", "修改密码", "快递单号查询", "延长保修期",
                     "屏幕维修", "票"],
    "no match": ["xylophone", "quantum entanglement", "zzzz qqqq", "火锅"],
    "common words": ["please contact customer support", "order information",
                     "我们 客服 服务", "product time details"],
}  # fmt: skip


def _zipf_pick(rng: random.Random, words: list[str]) -> str:
    """A word from `words`, the n-th one 1/n as often as the first (Zipf)."""
    weights = _ZIPF.get(len(words))
    if weights is None:
        weights = _ZIPF[len(words)] = list(
            itertools.accumulate(1 / n for n in range(1, 1 + len(words)))
        )
    return words[bisect.bisect(weights, rng.random() * weights[-1])]


def _sentence_en(rng: random.Random, topic: list[str], other: list[str]) -> str:
    words = []
    for _ in range(rng.randint(8, 18)):
        roll = rng.random()
        if roll < 0.3:
            words.append(rng.choice(topic))
        elif roll < 0.36:
            words.append(rng.choice(other))
        elif roll < 0.4:
            words.append(rng.choice(RARE_EN))
        else:
            words.append(_zipf_pick(rng, FILLER_EN))
    return " ".join(words).capitalize() + rng.choice(".....?!")


def _sentence_zh(rng: random.Random, topic: list[str], other: list[str]) -> str:
    words = []
    for _ in range(rng.randint(8, 18)):
        roll = rng.random()
        if roll < 0.35:
            words.append(rng.choice(topic))
        elif roll < 0.42:
            words.append(rng.choice(other))
        else:
            words.append(_zipf_pick(rng, FILLER_ZH))
        if rng.random() < 0.15:
            words.append("，")
    return "".join(words).strip("，") + rng.choice("。。。。！？")


def generate(count: int, seed: int = 20261125) -> list[kb.Article]:
    """`count` articles, about 60% English and 40% Chinese, reproducible from `seed`."""
    rng = random.Random(seed)
    articles = []
    for number in range(count):
        chinese = rng.random() < 0.4
        topics = TOPICS_ZH if chinese else TOPICS_EN
        name = rng.choice(list(topics))
        topic = topics[name].split()
        other = topics[rng.choice(list(topics))].split()
        write = _sentence_zh if chinese else _sentence_en
        words = rng.randint(100, 600)
        paragraphs, written = [], 0
        while written < words:
            paragraph = [write(rng, topic, other) for _ in range(rng.randint(2, 5))]
            written += sum(len(s.split()) if not chinese else len(s) // 2 for s in paragraph)
            paragraphs.append(("" if chinese else " ").join(paragraph))
        title = rng.choice((TITLES_ZH if chinese else TITLES_EN)[name])
        articles.append(
            kb.Article(
                id=f"bench-{number:05d}",
                title=f"{title} {rng.choice(RARE_EN)}",
                tags=[name, *rng.sample(topic, 2)],
                language="zh-CN" if chinese else "en",
                intents=[f"repairs.{name}"],
                summary=write(rng, topic, other)[:400],
                body="\n\n".join(paragraphs),
            )
        )
    return articles


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * fraction) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20, help="passes over the query set")
    parser.add_argument("--limit", type=int, default=10, help="hits per search")
    parser.add_argument(
        "--database-url", help="index here instead of a temporary SQLite file (emptied first)"
    )
    args = parser.parse_args()

    started = time.perf_counter()
    articles = generate(args.articles)
    generated = time.perf_counter() - started
    english = sum(article.language == "en" for article in articles)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'kb.db'}"
        database = Database(url)
        upgrade(database)
        with database.session() as session:
            kb.sync(session, [])  # start from an empty knowledge base
        started = time.perf_counter()
        with database.session() as session:
            report = kb.sync(session, articles)
        synced = time.perf_counter() - started
        if database.engine.dialect.name == "postgresql":
            # What autovacuum does shortly after a bulk load: planner statistics, hint bits.
            with database.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql("VACUUM ANALYZE kb_articles, kb_impacts")

        rng = random.Random(7)
        work = [
            (kind, query, language)
            for kind, queries in QUERIES.items()
            for query in queries
            for language in (None, "zh-CN" if re.search("[\u4e00-\u9fff]", query) else "en")
        ]
        samples: dict[str, list[float]] = {kind: [] for kind in QUERIES}
        hits: dict[str, list[int]] = {kind: [] for kind in QUERIES}
        with database.session() as session:
            for _kind, query, language in work:  # warm-up: caches, statements, pages
                kb.search(session, query, language=language, limit=args.limit)
            for _ in range(args.rounds):
                rng.shuffle(work)
                for kind, query, language in work:
                    begin = time.perf_counter()
                    found = kb.search(session, query, language=language, limit=args.limit)
                    samples[kind].append(time.perf_counter() - begin)
                    hits[kind].append(len(found))
        database.dispose()

    dialect = url.split(":", 1)[0].split("+", 1)[0]
    print(
        f"kb search, in-process, {dialect}: {len(articles):,} articles "
        f"({english:,} en, {len(articles) - english:,} zh-CN), generated in {generated:.1f} s"
    )
    print(f"  sync into an empty index: {synced:.1f} s ({report})")
    print(f"  {'query kind':<16} {'n':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'hits':>6}")
    every = []
    for kind, values in samples.items():
        every += values
        ordered = sorted(values)
        print(
            f"  {kind:<16} {len(ordered):>6} {statistics.median(ordered) * 1e3:>9.2f} "
            f"{percentile(ordered, 0.99) * 1e3:>9.2f} {ordered[-1] * 1e3:>9.2f} "
            f"{statistics.mean(hits[kind]):>6.1f}"
        )
    ordered = sorted(every)
    print(
        f"  {'overall':<16} {len(ordered):>6} {statistics.median(ordered) * 1e3:>9.2f} "
        f"{percentile(ordered, 0.99) * 1e3:>9.2f} {ordered[-1] * 1e3:>9.2f}"
    )


if __name__ == "__main__":
    main()
