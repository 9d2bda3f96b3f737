"""The strict flow validator: every problem is reported as `file:line: node: problem`.

Flow files are written as text so that the line numbers in the expected problems are known;
each case lists the exact `line: node: message` tail of every problem it must produce.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from callcenter.app import create_app, flow_catalog
from callcenter.cli import main as cli_main
from callcenter.config import load_settings
from callcenter.ivr.loader import (
    FlowCatalog,
    FlowError,
    FlowProblem,
    flow_files,
    load_flows,
)
from callcenter.ivr.registry import FlowRegistry

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_FLOWS = ROOT / "ivr_flows"

CATALOG = FlowCatalog(
    languages=frozenset({"en", "zh-CN"}),
    queues=frozenset({"support", "vip"}),
    mailboxes=frozenset({"general", "support"}),
    hours=frozenset({"support"}),
)

KINDS = (
    "message, menu, input, lookup, branch, queue, voicemail, transfer, language, hangup, "
    "knowledge, goto"
)
CONDITION = (
    "a condition needs exactly one of open, closed, holiday, tier, language, known_caller, var"
)
NODE_NAME_PATTERN = "String should match pattern '^[a-z][a-z0-9_]{0,63}$'"
NOT_CHECKED = " (flow 'demo' is not checked until this is fixed)"
BAD_INDENT = "bad indentation: this line is indented differently from the lines around it"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(paths: list[Path], catalog: FlowCatalog = CATALOG) -> list[str]:
    with pytest.raises(FlowError) as info:
        load_flows(paths, catalog)
    return [str(problem) for problem in info.value.problems]


def problems_in(tmp_path: Path, text: str) -> tuple[Path, list[str]]:
    path = write(tmp_path, "flow.yaml", text)
    return path, problems_of([path])


# -- a valid flow, as a baseline ----------------------------------------------------------

VALID = """\
flow: demo
languages: [en]
start: hello
nodes:
  hello:
    kind: message
    say: Hello.
    next: bye
  bye:
    kind: hangup
    say: Goodbye.
"""


def test_a_valid_flow_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID)
    flows = load_flows([path], CATALOG)
    assert "demo" in flows
    assert list(flows.flows) == ["demo"]
    assert flows.files == {"demo": str(path)}
    assert flows.get("demo").start == "hello"
    assert flows.node("demo", "hello").kind == "message"
    assert flows.node("demo", "hello").say == "Hello."
    assert flows.node("demo", "hello").next == "bye"
    assert flows.node("demo", "bye").kind == "hangup"


def test_problem_format_and_error_text(tmp_path: Path) -> None:
    path, _ = problems_in(tmp_path, VALID.replace("next: bye", "next: nowhere"))
    with pytest.raises(FlowError) as info:
        load_flows([path], CATALOG)
    problem = info.value.problems[0]
    assert problem == FlowProblem(
        str(path), 8, "hello", "next: target 'nowhere' does not exist in flow 'demo'"
    )
    expected = f"{path}:8: hello: next: target 'nowhere' does not exist in flow 'demo'"
    assert str(problem) == expected
    # bye is no longer reachable either; the exception text lists every problem
    assert str(info.value) == (
        f"{expected}\n{path}:9: bye: unreachable: no path leads here from start"
    )


# -- one file, one kind of problem ----------------------------------------------------------

CASES = [
    # ---- structure ------------------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          bye:
            kind: hangout
        """,
        [f"10: bye: unknown node kind 'hangout' (expected one of {KINDS})"],
        id="unknown-node-kind",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          bye:
            say: Goodbye.
        """,
        [f"9: bye: kind is missing (one of {KINDS})"],
        id="missing-kind",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
            colour: red
          bye:
            kind: hangup
        """,
        ["9: hello: unknown field 'colour'"],
        id="unknown-node-field",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          bye:
            kind: hangup
        owner: operations
        """,
        ["11: (flow): unknown field 'owner'"],
        id="unknown-top-level-field",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
          bye:
            kind: hangup
        """,
        ["5: hello: next: required field is missing"],
        id="message-without-next",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              1: {goto: bye}
          bye:
            kind: hangup
        """,
        ["5: pick: fallback: required field is missing"],
        id="menu-without-fallback",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        nodes:
          bye:
            kind: hangup
        """,
        ["1: (flow): start: required field is missing"],
        id="flow-without-start",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            next: bye
          bye:
            kind: hangup
        """,
        ["5: hello: a message needs say, play or pause"],
        id="message-says-nothing",
    ),
    # ---- targets ---------------------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: nowhere
        """,
        ["8: hello: next: target 'nowhere' does not exist in flow 'demo'"],
        id="next-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1 or 2.
            options:
              1: {goto: bye}
              2:
                goto: nowhere
            fallback: bye
          bye:
            kind: hangup
        """,
        ["11: pick: options.2.goto: target 'nowhere' does not exist in flow 'demo'"],
        id="menu-option-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              1: {goto: bye}
            fallback: gone
          bye:
            kind: hangup
        """,
        ["10: pick: fallback: target 'gone' does not exist in flow 'demo'"],
        id="menu-fallback-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {tier: vip}
                goto: bye
            otherwise: nowhere
          bye:
            kind: hangup
        """,
        ["10: route: otherwise: target 'nowhere' does not exist in flow 'demo'"],
        id="branch-otherwise-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: who
        nodes:
          who:
            kind: lookup
            found: nowhere
            not_found: bye
          bye:
            kind: hangup
        """,
        ["7: who: found: target 'nowhere' does not exist in flow 'demo'"],
        id="lookup-found-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: who
        nodes:
          who:
            kind: lookup
            found: bye
            not_found: nowhere
          bye:
            kind: hangup
        """,
        ["8: who: not_found: target 'nowhere' does not exist in flow 'demo'"],
        id="lookup-not-found-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: ask
        nodes:
          ask:
            kind: input
            prompt: Enter your order number.
            save_as: order_number
            next: bye
            fallback: nowhere
          bye:
            kind: hangup
        """,
        ["10: ask: fallback: target 'nowhere' does not exist in flow 'demo'"],
        id="input-fallback-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: out
        nodes:
          out:
            kind: transfer
            number: "+18005550199"
            on_fail: nowhere
        """,
        ["8: out: on_fail: target 'nowhere' does not exist in flow 'demo'"],
        id="transfer-on-fail-target-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: helo
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          bye:
            kind: hangup
        """,
        [
            "3: (flow): start node 'helo' does not exist",
            "5: hello: unreachable: no path leads here from start",
            "9: bye: unreachable: no path leads here from start",
        ],
        id="start-node-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          orphan:
            kind: hangup
          bye:
            kind: hangup
        """,
        ["9: orphan: unreachable: no path leads here from start"],
        id="unreachable-node",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: intro
        nodes:
          intro:
            kind: message
            say: Welcome.
            next: route
          route:
            kind: branch
            rules:
              - when: {tier: vip}
                goto: intro
            otherwise: bye
          bye:
            kind: hangup
        """,
        [
            "5: intro: loop without input: demo.intro -> demo.route -> demo.intro "
            "never waits for the caller"
        ],
        id="loop-without-input",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: jump
          jump:
            kind: goto
            flow: billing
        """,
        ["11: jump: flow: no flow named 'billing'"],
        id="goto-unknown-flow",
    ),
    # ---- numbers, keys, patterns, names ----------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            timeout: 0
            options:
              1: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: pick: timeout: Input should be greater than or equal to 1"],
        id="timeout-0",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            timeout: 61
            options:
              1: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: pick: timeout: Input should be less than or equal to 60"],
        id="timeout-61",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              1: {goto: bye}
            retries: 9
            fallback: bye
          bye:
            kind: hangup
        """,
        ["10: pick: retries: Input should be less than or equal to 5"],
        id="retries-9",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            pause: 31
            next: bye
          bye:
            kind: hangup
        """,
        ["8: hello: pause: Input should be less than or equal to 30"],
        id="pause-31",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: leave
        nodes:
          leave:
            kind: voicemail
            mailbox: general
            say: Leave a message.
            max_length: 3
        """,
        ["9: leave: max_length: Input should be greater than or equal to 5"],
        id="voicemail-max-length-3",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: out
        nodes:
          out:
            kind: transfer
            number: "+18005550199"
            timeout: 121
            on_fail: bye
          bye:
            kind: hangup
        """,
        ["8: out: timeout: Input should be less than or equal to 120"],
        id="transfer-timeout-121",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              12: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: pick: options: option 12 is not a single key (0-9, * or #)"],
        id="menu-option-key-12",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              1: {goto: bye}
              a: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: pick: options: option 'a' is not a single key (0-9, * or #)"],
        id="menu-option-key-a",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options: {}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: pick: options: a menu needs at least one option"],
        id="menu-without-options",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: ask
        nodes:
          ask:
            kind: input
            prompt: Enter your code.
            save_as: code
            digits: {min: 8, max: 4}
            next: bye
            fallback: bye
          bye:
            kind: hangup
        """,
        ["9: ask: digits: max is smaller than min"],
        id="input-digits-min-above-max",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: ask
        nodes:
          ask:
            kind: input
            prompt: Enter your code.
            save_as: code
            pattern: "^[0-9+$"
            next: bye
            fallback: bye
          bye:
            kind: hangup
        """,
        ["9: ask: pattern: pattern does not compile: unterminated character set at position 1"],
        id="input-pattern-does-not-compile",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: language
            prompt:
              en: For English, press 1.
              zh-CN: 中文服务请按2。
            options:
              1: en
              22: zh-CN
            next: bye
          bye:
            kind: hangup
        """,
        ["10: pick: options: option 22 is not a single key (0-9, * or #)"],
        id="language-option-key-22",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: language
            prompt:
              en: For English, press 1.
              zh-CN: 中文服务请按2。
            options:
              1: en
              2: fr
            next: bye
          bye:
            kind: hangup
        """,
        ["12: pick: options.2: 'fr' is not a flow language"],
        id="language-option-not-a-flow-language",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: out
        nodes:
          out:
            kind: transfer
            number: "18005550199"
            on_fail: bye
          bye:
            kind: hangup
        """,
        [r"7: out: number: String should match pattern '^\+[1-9]\d{6,14}$'"],
        id="transfer-number-without-plus",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: out
        nodes:
          out:
            kind: transfer
            number: "+1800"
            on_fail: bye
          bye:
            kind: hangup
        """,
        [r"7: out: number: String should match pattern '^\+[1-9]\d{6,14}$'"],
        id="transfer-number-too-short",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: Bye
          Bye:
            kind: hangup
        """,
        [f"9: Bye: [key]: {NODE_NAME_PATTERN}"],
        id="bad-node-name",
    ),
    pytest.param(
        """\
        flow: Demo-Flow
        languages: [en]
        start: bye
        nodes:
          bye:
            kind: hangup
        """,
        [f"1: (flow): flow: {NODE_NAME_PATTERN}"],
        id="bad-flow-name",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: ask
        nodes:
          ask:
            kind: input
            prompt: Enter your code.
            save_as: Code
            next: bye
            fallback: bye
          bye:
            kind: hangup
        """,
        ["8: ask: save_as: String should match pattern '^[a-z][a-z0-9_]{0,39}$'"],
        id="bad-save-as-name",
    ),
    # ---- branch conditions and lookups -----------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {tier: vip, known_caller: true}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        [f"8: route: rules.0.when: {CONDITION} (got tier, known_caller)"],
        id="condition-with-two-tests",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {tier: vip}
                goto: bye
              - when: {}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        [f"10: route: rules.1.when: {CONDITION} (got none)"],
        id="condition-with-no-test",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {var: order_number}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: rules.0.when: var needs exactly one of equals or present"],
        id="var-without-equals-or-present",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {var: order_number, equals: "42", present: true}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: rules.0.when: var needs exactly one of equals or present"],
        id="var-with-equals-and-present",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {tier: vip, equals: "42"}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: rules.0.when: equals and present only go with var"],
        id="equals-without-var",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {rules: []}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: unknown field 'rules'"],
        id="condition-unknown-test",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: who
        nodes:
          who:
            kind: lookup
            by: account_code
            found: bye
            not_found: bye
          bye:
            kind: hangup
        """,
        ["5: who: lookup by account_code needs account_var (the input's save_as)"],
        id="lookup-by-account-code-without-account-var",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: who
        nodes:
          who:
            kind: lookup
            account_var: code
            found: bye
            not_found: bye
          bye:
            kind: hangup
        """,
        ["5: who: account_var only applies to lookup by account_code"],
        id="lookup-by-caller-number-with-account-var",
    ),
    # ---- YAML -------------------------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              1: {goto: bye}
              1: {goto: pick}
            fallback: bye
          bye:
            kind: hangup
        """,
        [f"10: (file): duplicate key 1{NOT_CHECKED}"],
        id="duplicate-option-key",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        nodes:
          bye:
            kind: hangup
            say: Goodbye.
          bye:
            kind: hangup
        """,
        [f"8: (file): duplicate key 'bye'{NOT_CHECKED}"],
        id="duplicate-node-name",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        nodes:
          bye:
            kind: hangup
        start: hello
        """,
        [f"7: (file): duplicate key 'start'{NOT_CHECKED}"],
        id="duplicate-top-level-key",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
             say: Hi.
            next: bye
        """,
        [f"7: (file): {BAD_INDENT}{NOT_CHECKED}"],
        id="invalid-yaml-indentation",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN
        start: bye
        """,
        [f"2: (file): unclosed '[': the list opened on this line has no ']'{NOT_CHECKED}"],
        id="invalid-yaml-unclosed-list",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        nodes:
          bye:
            kind: hangup
        ---
        flow: other
        """,
        [f"7: (file): a second document ('---'): a flow file holds one{NOT_CHECKED}"],
        id="two-yaml-documents",
    ),
    pytest.param(
        """\
        - flow: demo
        - start: bye
        """,
        ["1: (file): top level must be a mapping"],
        id="top-level-list",
    ),
    pytest.param("", ["1: (file): top level must be a mapping"], id="empty-file"),
    pytest.param(
        "# nothing here yet\n", ["1: (file): top level must be a mapping"], id="comment-only"
    ),
    # ---- texts and languages ---------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: hello
        nodes:
          hello:
            kind: message
            say:
              en: Hello.
            next: bye
          bye:
            kind: hangup
        """,
        ["7: hello: say: missing zh-CN text"],
        id="missing-translation",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: hello
        nodes:
          hello:
            kind: message
            say:
              en: Hello.
              zh-CN: "  "
            next: bye
          bye:
            kind: hangup
        """,
        ["7: hello: say: missing zh-CN text"],
        id="blank-translation",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt:
              en: Press 1.
              zh-CN: 请按1。
            no_input:
              en: We did not hear you.
            options:
              1: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["10: pick: no_input: missing zh-CN text"],
        id="missing-translation-of-no-input",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hello.
            next: bye
          bye:
            kind: hangup
        """,
        ["7: hello: say: needs a text for each of en, zh-CN"],
        id="plain-string-in-two-language-flow",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, fr]
        start: bye
        nodes:
          bye:
            kind: hangup
            say:
              en: Goodbye.
              fr: Au revoir.
        """,
        ["2: (flow): language 'fr' has no voice in config"],
        id="language-not-in-catalog",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: bye
        nodes:
          bye:
            kind: hangup
            say:
              en: Goodbye.
              zh-CN: 再见。
              fr: Au revoir.
        """,
        ["10: bye: say: 'fr' is not a flow language"],
        id="text-in-a-language-the-flow-does-not-have",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: bye
        nodes:
          bye:
            kind: hangup
            say:
              en: Your password is {password}.
              zh-CN: 您的密码是 {password}。
        """,
        [
            "8: bye: say: unknown placeholder {password} "
            "(use name, tier, account, caller, language or var.NAME)",
            "9: bye: say: unknown placeholder {password} "
            "(use name, tier, account, caller, language or var.NAME)",
        ],
        id="unknown-placeholder",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        nodes:
          bye:
            kind: hangup
            say: Your order {var.Order} is on its way.
        """,
        [
            "7: bye: say: unknown placeholder {var.Order} "
            "(use name, tier, account, caller, language or var.NAME)"
        ],
        id="bad-var-placeholder",
    ),
    # ---- names from the config -------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: wait
        nodes:
          wait:
            kind: queue
            queue: sales
        """,
        ["7: wait: queue: no queue named 'sales' in config"],
        id="unknown-queue",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: leave
        nodes:
          leave:
            kind: voicemail
            mailbox: sales
            say: Leave a message.
        """,
        ["7: leave: mailbox: no mailbox named 'sales' in config"],
        id="unknown-mailbox",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        hours: night
        closed: bye
        nodes:
          bye:
            kind: hangup
        """,
        ["4: (flow): no hours named 'night' in config"],
        id="unknown-flow-hours",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        hours: support
        nodes:
          bye:
            kind: hangup
        """,
        ["1: (flow): hours and closed go together: where do callers go when closed?"],
        id="hours-without-closed",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: bye
        hours: support
        closed: gone
        nodes:
          bye:
            kind: hangup
        """,
        ["5: (flow): closed node 'gone' does not exist"],
        id="closed-node-missing",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {closed: night}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: no hours named 'night' in config"],
        id="unknown-hours-in-condition",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {language: zh-CN}
                goto: bye
            otherwise: bye
          bye:
            kind: hangup
        """,
        ["8: route: language 'zh-CN' is not a flow language"],
        id="condition-on-a-language-the-flow-does-not-have",
    ),
    # ---- speech menus ----------------------------------------------------------------------
    pytest.param(
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            input: [dtmf, speech]
            prompt: Press 1 or say help.
            options:
              1:
                goto: bye
                keywords: [help]
              2: {goto: bye}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["13: pick: options.2: speech input needs keywords for this option"],
        id="speech-option-without-keywords",
    ),
    pytest.param(
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: menu
            input: [speech]
            prompt:
              en: Say help.
              zh-CN: 请说帮助。
            options:
              1:
                goto: bye
                keywords: {en: [help]}
            fallback: bye
          bye:
            kind: hangup
        """,
        ["14: pick: options.1.keywords: missing zh-CN keywords"],
        id="speech-keywords-missing-a-language",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_problem(tmp_path: Path, text: str, expected: list[str]) -> None:
    path, problems = problems_in(tmp_path, text)
    assert problems == [f"{path}:{tail}" for tail in expected]


# -- what is accepted ------------------------------------------------------------------------


def test_known_placeholders_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "demo.yaml",
        """\
        flow: demo
        languages: [en, zh-CN]
        start: order
        nodes:
          order:
            kind: input
            prompt: {en: Enter your order number., zh-CN: 请输入订单号。}
            save_as: order_number
            next: hello
            fallback: hello
          hello:
            kind: message
            say:
              en: Hello {name} ({tier}, {account}, {caller}, {language}), order {var.order_number}.
              zh-CN: "{name}，您好。订单 {var.order_number}。"
            next: bye
          bye:
            kind: hangup
        """,
    )
    flows = load_flows([path], CATALOG)
    assert flows.node("demo", "hello").say["zh-CN"] == "{name}，您好。订单 {var.order_number}。"


def test_a_loop_that_waits_for_input_is_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "demo.yaml",
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1 to hear this again.
            options:
              1: {goto: again}
            fallback: bye
          again:
            kind: message
            say: Once more.
            next: pick
          bye:
            kind: hangup
        """,
    )
    flows = load_flows([path], CATALOG)
    assert flows.node("demo", "again").next == "pick"


def test_a_speech_menu_with_keywords_in_every_language_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "demo.yaml",
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: menu
            input: [dtmf, speech]
            prompt:
              en: Press 1 or say help.
              zh-CN: 请按1或说帮助。
            options:
              1:
                goto: bye
                keywords: {en: [help], zh-CN: [帮助]}
              "#": {goto: bye, keywords: [hash]}
            fallback: bye
          bye:
            kind: hangup
        """,
    )
    flows = load_flows([path], CATALOG)
    assert sorted(flows.node("demo", "pick").options) == ["#", "1"]


# -- several files ---------------------------------------------------------------------------

OTHER = """\
flow: other
languages: [en]
start: welcome
nodes:
  welcome:
    kind: message
    say: Welcome to the other flow.
    next: bye
  bye:
    kind: hangup
"""

JUMPER = """\
flow: demo
languages: [en]
start: hello
nodes:
  hello:
    kind: message
    say: Hi.
    next: jump
  jump:
    kind: goto
    flow: other
    node: {node}
"""


def test_goto_a_node_of_another_flow(tmp_path: Path) -> None:
    demo = write(tmp_path, "demo.yaml", JUMPER.replace("{node}", "bye"))
    other = write(tmp_path, "other.yaml", OTHER)
    flows = load_flows([demo, other], CATALOG)
    assert sorted(flows.flows) == ["demo", "other"]
    assert flows.node("demo", "jump").flow == "other"
    assert flows.node("demo", "jump").node == "bye"


def test_goto_an_unknown_node_of_a_known_flow(tmp_path: Path) -> None:
    demo = write(tmp_path, "demo.yaml", JUMPER.replace("{node}", "farewell"))
    other = write(tmp_path, "other.yaml", OTHER)
    assert problems_of([demo, other]) == [
        f"{demo}:12: jump: node: 'farewell' does not exist in flow 'other'"
    ]


def test_goto_another_flow_makes_its_nodes_reachable(tmp_path: Path) -> None:
    # `welcome` and `bye` of `other` are reached through its start; nothing is unreachable
    demo = write(tmp_path, "demo.yaml", JUMPER.replace("    node: {node}\n", ""))
    other = write(tmp_path, "other.yaml", OTHER)
    flows = load_flows([demo, other], CATALOG)
    assert flows.files == {"demo": str(demo), "other": str(other)}


def test_input_free_loop_across_flows(tmp_path: Path) -> None:
    demo = write(tmp_path, "demo.yaml", JUMPER.replace("{node}", "welcome"))
    other = write(tmp_path, "other.yaml", OTHER.replace("next: bye", "next: back"))
    with (tmp_path / "other.yaml").open("a", encoding="utf-8") as handle:
        handle.write("  back:\n    kind: goto\n    flow: demo\n")
    assert problems_of([demo, other]) == [
        f"{demo}:5: hello: loop without input: demo.hello -> demo.jump -> other.welcome "
        "-> other.back -> demo.hello never waits for the caller",
        f"{other}:9: bye: unreachable: no path leads here from start",
    ]


def test_two_files_declaring_the_same_flow(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", "# a copy\n" + VALID)
    assert problems_of([first, second]) == [
        f"{second}:2: (flow): flow name 'demo' is also used by {first}"
    ]


def test_no_flow_files() -> None:
    assert problems_of([]) == ["ivr_flows:1: (files): no flow files found"]


def test_problems_of_several_files_are_all_reported(tmp_path: Path) -> None:
    broken_yaml = write(tmp_path, "a.yaml", "flow: [demo\n")
    broken_flow = write(tmp_path, "b.yaml", VALID.replace("next: bye", "next: gone"))
    assert problems_of([broken_flow, broken_yaml]) == [
        f"{broken_yaml}:1: (file): unclosed '[': the list opened on this line has no ']' "
        "(flow 'a' is not checked until this is fixed)",
        f"{broken_flow}:8: hello: next: target 'gone' does not exist in flow 'demo'",
        f"{broken_flow}:9: bye: unreachable: no path leads here from start",
    ]


# -- several problems in one file ------------------------------------------------------------


def test_all_cross_reference_problems_are_reported_sorted_by_line(tmp_path: Path) -> None:
    # the flow-level hours problem is found first but sits on the last line
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi {password}.
            next: pick
          pick:
            kind: menu
            prompt: Pick.
            options:
              1: {goto: nowhere}
            fallback: wait
          wait:
            kind: queue
            queue: sales
          orphan:
            kind: hangup
        hours: night
        closed: hello
        """,
    )
    assert problems == [
        f"{path}:7: hello: say: unknown placeholder {{password}} "
        "(use name, tier, account, caller, language or var.NAME)",
        f"{path}:13: pick: options.1.goto: target 'nowhere' does not exist in flow 'demo'",
        f"{path}:17: wait: queue: no queue named 'sales' in config",
        f"{path}:18: orphan: unreachable: no path leads here from start",
        f"{path}:20: (flow): no hours named 'night' in config",
    ]


def test_all_schema_problems_are_reported_sorted_by_line(tmp_path: Path) -> None:
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          wait:
            kind: queue
          hello:
            kind: message
            say: Hi.
            pause: 99
            next: bye
            colour: red
          bye:
            kind: hangout
        extra: true
        """,
    )
    assert problems == [
        f"{path}:5: wait: queue: required field is missing",
        f"{path}:10: hello: pause: Input should be less than or equal to 30",
        f"{path}:12: hello: unknown field 'colour'",
        f"{path}:14: bye: unknown node kind 'hangout' (expected one of {KINDS})",
        f"{path}:15: (flow): unknown field 'extra'",
    ]


# -- product bugs: these tests fail until the loader is fixed --------------------------------


def test_branch_rule_target_is_reported_on_its_goto_line(tmp_path: Path) -> None:
    # Every other bad target is reported on the line of the field naming it (next:, goto: of a
    # menu option, fallback:, ...). A branch rule's goto must be too, not on `rules:` (line 7).
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en]
        start: route
        nodes:
          route:
            kind: branch
            rules:
              - when: {tier: vip}
                goto: bye
              - when: {known_caller: true}
                goto: nowhere
            otherwise: bye
          bye:
            kind: hangup
        """,
    )
    assert problems == [
        f"{path}:11: route: rules.1.goto: target 'nowhere' does not exist in flow 'demo'"
    ]


def test_the_same_option_key_written_as_text_and_as_number_is_refused(tmp_path: Path) -> None:
    # YAML sees '1' (a string) and 1 (an int) as different keys, so the duplicate-key check
    # misses them; the menu then turns both into "1" and silently keeps only the last option.
    path = write(
        tmp_path,
        "flow.yaml",
        """\
        flow: demo
        languages: [en]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt: Press 1.
            options:
              "1": {goto: bye}
              1: {goto: again}
            fallback: bye
          again:
            kind: message
            say: Again.
            next: pick
          bye:
            kind: hangup
        """,
    )
    with pytest.raises(FlowError) as info:
        load_flows([path], CATALOG)
    [problem] = info.value.problems
    assert problem.file == str(path)
    # reported either on the repeated key (loader) or on `options:` (schema)
    assert (problem.line, problem.node) in {(10, "(file)"), (8, "pick")}
    assert "1" in problem.message
    assert "duplicate" in problem.message or "twice" in problem.message


def test_yaml_merge_keys_are_accepted(tmp_path: Path) -> None:
    # The strict loader is a SafeLoader that only refuses duplicate keys; `<<: *anchor`
    # is plain YAML that yaml.safe_load understands and must keep working.
    path = write(
        tmp_path,
        "demo.yaml",
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello: &greeting
            kind: message
            say: Hello.
            next: again
          again:
            <<: *greeting
            say: Hello again.
            next: bye
          bye:
            kind: hangup
        """,
    )
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["nodes"]["again"] == {
        "kind": "message",
        "say": "Hello again.",
        "next": "bye",
    }
    flows = load_flows([path], CATALOG)
    again = flows.node("demo", "again")
    assert (again.kind, again.say, again.next) == ("message", "Hello again.", "bye")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """\
            flow: demo
            languages: [en]
            start: bye
            """,
            [
                "1: (flow): nodes: required field is missing",
            ],
            id="missing-nodes",
        ),
        pytest.param(
            """\
            flow: demo
            languages: [en]
            start: bye
            nodes: {}
            """,
            ["4: (flow): nodes: Dictionary should have at least 1 item after validation, not 0"],
            id="empty-nodes",
        ),
    ],
)
def test_problems_with_the_nodes_field_name_it(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    # Errors about `nodes` itself must say `nodes:` like every other field does; today the
    # field name is dropped (": required field is missing").
    path, problems = problems_in(tmp_path, text)
    assert problems == [f"{path}:{tail}" for tail in expected]


def test_an_unhashable_key_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en]
        start: bye
        nodes:
          [a, b]: x
          bye:
            kind: hangup
        """,
    )
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:5: (file): unhashable key")
    assert "unhashable key" in problems[0]


# -- the shipped flows -----------------------------------------------------------------------


@pytest.fixture
def repo_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's config.yaml, with secrets given so nothing is written to instance/."""
    monkeypatch.setenv("CALLCENTER_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-auth-token")


def shipped_node_count() -> int:
    return sum(
        len(yaml.safe_load(path.read_text(encoding="utf-8"))["nodes"])
        for path in flow_files(SHIPPED_FLOWS)
    )


def test_shipped_flows_validate_with_the_repository_config(repo_settings_env: None) -> None:
    settings = load_settings()
    assert Path(settings.base_dir) == ROOT
    directory = settings.path(settings.flows_dir)
    assert directory == ROOT / "ivr_flows"
    files = flow_files(directory)
    assert [path.name for path in files] == ["main.yaml", "repairs.yaml"]
    flows = load_flows(files, flow_catalog(settings))
    assert sorted(flows.flows) == ["main", "repairs"]
    assert settings.default_flow in flows
    assert flows.files == {"main": str(files[0]), "repairs": str(files[1])}
    assert flows.node("main", "to_repairs").flow == "repairs"
    assert flows.node("repairs", "back_to_main").flow == "main"
    assert sum(len(flow.nodes) for flow in flows.flows.values()) == shipped_node_count()


# -- FlowRegistry ----------------------------------------------------------------------------


def rewrite(path: Path, text: str) -> None:
    """Write new content and move the mtime forward, so the change is always noticed."""
    before = path.stat().st_mtime
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    os.utime(path, (before + 10, before + 10))


def test_registry_reloads_a_good_edit(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID)
    registry = FlowRegistry(tmp_path, CATALOG, check_interval=3600)
    assert registry.flows.node("demo", "hello").say == "Hello."
    assert registry.reload_if_changed() is False

    rewrite(path, VALID.replace("say: Hello.", "say: Hello, and welcome back."))
    assert registry.reload_if_changed() is True
    assert registry.flows.node("demo", "hello").say == "Hello, and welcome back."
    assert registry.last_error is None
    assert registry.reload_if_changed() is False


def test_registry_keeps_the_last_good_flows_after_a_broken_edit(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID)
    registry = FlowRegistry(tmp_path, CATALOG, check_interval=3600)
    good = registry.flows

    rewrite(path, VALID.replace("say: Hello.", "say: Hi.").replace("next: bye", "next: byee"))
    assert registry.reload_if_changed() is False
    assert registry.flows is good
    assert registry.flows.node("demo", "hello").say == "Hello."
    assert registry.last_error == (
        f"{path}:8: hello: next: target 'byee' does not exist in flow 'demo'\n"
        f"{path}:9: bye: unreachable: no path leads here from start"
    )
    # nothing changed since: no new attempt, the error stays
    assert registry.reload_if_changed() is False
    assert registry.last_error is not None

    rewrite(path, VALID.replace("say: Hello.", "say: Hi."))
    assert registry.reload_if_changed() is True
    assert registry.last_error is None
    assert registry.flows.node("demo", "hello").say == "Hi."


def test_registry_keeps_the_last_good_flows_when_a_broken_file_is_added(tmp_path: Path) -> None:
    write(tmp_path, "demo.yaml", VALID)
    registry = FlowRegistry(tmp_path, CATALOG, check_interval=3600)
    broken = write(tmp_path, "extra.yml", OTHER.replace("kind: hangup", "kind: hangout"))
    assert registry.reload_if_changed() is False
    assert sorted(registry.flows.flows) == ["demo"]
    assert registry.last_error == (
        f"{broken}:10: bye: unknown node kind 'hangout' (expected one of {KINDS})"
    )
    broken.unlink()
    assert registry.reload_if_changed() is True
    assert registry.last_error is None


def test_registry_checks_for_changes_when_flows_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID)
    registry = FlowRegistry(tmp_path, CATALOG, check_interval=0)
    assert registry.flows.node("demo", "bye").say == "Goodbye."
    rewrite(path, VALID.replace("say: Goodbye.", "say: See you."))
    assert registry.flows.node("demo", "bye").say == "See you."


def test_registry_refuses_to_start_on_broken_flows(tmp_path: Path) -> None:
    path = write(tmp_path, "demo.yaml", VALID.replace("kind: hangup", "kind: hangout"))
    with pytest.raises(FlowError) as info:
        FlowRegistry(tmp_path, CATALOG)
    assert [str(problem) for problem in info.value.problems] == [
        f"{path}:10: bye: unknown node kind 'hangout' (expected one of {KINDS})"
    ]


# -- the command line ------------------------------------------------------------------------


def cli_runner() -> CliRunner:
    """stdout and stderr apart: click 8.1 needs mix_stderr=False, 8.2 always separates."""
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)
    return CliRunner()


def test_cli_flows_check_passes_on_the_shipped_flows(repo_settings_env: None) -> None:
    result = cli_runner().invoke(cli_main, ["flows", "check"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"ok: 2 flow(s), {shipped_node_count()} nodes (main, repairs)\n"
    assert result.stderr == ""


def test_cli_flows_check_with_explicit_paths(repo_settings_env: None) -> None:
    main_file, repairs_file = str(SHIPPED_FLOWS / "main.yaml"), str(SHIPPED_FLOWS / "repairs.yaml")
    result = cli_runner().invoke(cli_main, ["flows", "check", main_file, repairs_file])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("ok: 2 flow(s), ")
    assert result.stdout.endswith(" nodes (main, repairs)\n")

    # main.yaml alone goes to a flow that is not there
    result = cli_runner().invoke(cli_main, ["flows", "check", main_file])
    assert result.exit_code == 1
    lines = Path(main_file).read_text(encoding="utf-8").splitlines()
    line = lines.index("    flow: repairs") + 1
    assert f"{main_file}:{line}: to_repairs: flow: no flow named 'repairs'\n" in result.stderr
    assert result.stderr.endswith(" problem(s) in 1 file(s)\n")
    assert result.stdout == ""


def test_cli_flows_check_on_a_directory(tmp_path: Path, repo_settings_env: None) -> None:
    write(tmp_path, "demo.yaml", VALID)
    write(tmp_path, "notes.txt", "not a flow\n")
    result = cli_runner().invoke(cli_main, ["flows", "check", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ok: 1 flow(s), 2 nodes (demo)\n"


def test_cli_flows_check_reports_problems(tmp_path: Path, repo_settings_env: None) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        """\
        flow: demo
        languages: [en, zh-CN]
        start: hello
        nodes:
          hello:
            kind: message
            say:
              en: Hello.
            next: wait
          wait:
            kind: queue
            queue: sales
        """,
    )
    result = cli_runner().invoke(cli_main, ["flows", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:7: hello: say: missing zh-CN text",
        f"{path}:12: wait: queue: no queue named 'sales' in config",
        "2 problem(s) in 1 file(s)",
    ]


def test_cli_flows_check_refuses_a_path_that_does_not_exist(
    tmp_path: Path, repo_settings_env: None
) -> None:
    result = cli_runner().invoke(cli_main, ["flows", "check", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- the application -------------------------------------------------------------------------


def test_create_app_refuses_broken_flows(tmp_path: Path) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    write(flows_dir, "main.yaml", VALID.replace("flow: demo", "flow: main"))
    broken = write(flows_dir, "other.yaml", OTHER.replace("next: bye", "next: nowhere"))
    with pytest.raises(FlowError) as info:
        create_app(
            {
                "flows_dir": str(flows_dir),
                "database_url": "sqlite:///" + str(tmp_path / "x.db"),
                "instance_dir": str(tmp_path / "inst"),
            }
        )
    assert [str(problem) for problem in info.value.problems] == [
        f"{broken}:8: welcome: next: target 'nowhere' does not exist in flow 'other'",
        f"{broken}:9: bye: unreachable: no path leads here from start",
    ]


# -- knowledge nodes ------------------------------------------------------------------------

KNOWLEDGE_FLOW = """\
flow: demo
languages: [en, zh-CN]
start: info
nodes:
  info:
    kind: knowledge
    article: {articles}
    agent: to_agent
    next: bye
  to_agent:
    kind: queue
    queue: support
  bye:
    kind: hangup
"""


def test_knowledge_node_loads_with_known_articles(tmp_path: Path) -> None:
    catalog = dataclasses.replace(CATALOG, articles=frozenset({"warranty", "warranty-zh"}))
    path = write(tmp_path, "flow.yaml",
                 KNOWLEDGE_FLOW.format(articles="{en: warranty, zh-CN: warranty-zh}"))  # fmt: skip
    flows = load_flows([path], catalog)
    node = flows.node("demo", "info")
    assert node.article_for("zh-CN", "en") == "warranty-zh"
    assert node.article_for("fr", "en") == "warranty"


def test_knowledge_node_problems_name_the_article(tmp_path: Path) -> None:
    catalog = dataclasses.replace(CATALOG, articles=frozenset({"warranty"}))
    text = KNOWLEDGE_FLOW.format(articles="{en: warranty, zh-CN: nope}")
    path = write(tmp_path, "flow.yaml", text)
    assert problems_of([path], catalog) == [
        f"{path}:7: info: article: no article 'nope' in the knowledge base"
    ]
    path = write(tmp_path, "flow.yaml", KNOWLEDGE_FLOW.format(articles="{en: warranty}"))
    assert problems_of([path], catalog) == [f"{path}:7: info: article: missing 'zh-CN'"]
    path = write(tmp_path, "flow.yaml", KNOWLEDGE_FLOW.format(articles="Not/An/Id"))
    [problem] = problems_of([path], catalog)
    assert problem.startswith(f"{path}:7: info: article")


# -- YAML syntax errors in plain words, without follow-on errors --------------------------

YAML_SYNTAX_CASES = [
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: hello\nnodes:\n  hello:\n    kind: message\n"
        "     say: Hi.\n    next: bye\n",
        "7: (file): bad indentation: this line is indented differently from the lines around it",
        id="indented-too-far",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: hello\nnodes:\n  hello:\n    kind: message\n"
        "   next: bye\n",
        "7: (file): bad indentation: this line is indented differently from the lines around it",
        id="indented-too-little",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: hello\nnodes:\n  hello:\n    kind: message\n"
        "    say: Press 1: now.\n    next: bye\n",
        "7: (file): a value containing ': ' must be quoted",
        id="colon-in-a-value",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: hello\nnodes:\n  hello:\n    kind: message\n"
        '    say: "Hello.\n    next: bye\n',
        '7: (file): unclosed quote: the " opened on this line is never closed',
        id="unclosed-double-quote",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en, zh-CN\nstart: bye\n",
        "2: (file): unclosed '[': the list opened on this line has no ']'",
        id="unclosed-list",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: bye\nnodes:\n  bye: {kind: hangup\n",
        "5: (file): unclosed '{': the mapping opened on this line has no '}'",
        id="unclosed-mapping",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: bye\nnodes:\n\tbye:\n",
        "5: (file): a tab character: indent with spaces",
        id="tab",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart\nnodes:\n",
        "3: (file): missing ':' after a key (or an unclosed quote above)",
        id="key-without-colon",
    ),
    pytest.param(
        "flow: demo\nlanguages: [en]\nstart: bye\nnodes:\n  bye:\n    kind: hangup\n"
        "    say: {name}, goodbye.\n",
        "7: (file): a value starting with '{' or '[' must be quoted",
        id="unquoted-placeholder-at-the-start",
    ),
]


@pytest.mark.parametrize(("text", "expected"), YAML_SYNTAX_CASES)
def test_yaml_syntax_errors_are_one_plain_message(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    suffix = " (flow 'demo' is not checked until this is fixed)"
    assert problems_of([path]) == [f"{path}:{expected}{suffix}"]


REPAIRS = """\
flow: repairs
languages: [en]
start: menu
nodes:
  menu:
    kind: menu
    prompt: Press 1 to go back.
    options:
      1: {goto: back_to_main}
    fallback: back_to_main
  back_to_main:
    kind: goto
    flow: main
    node: main_menu
"""


def test_a_yaml_error_does_not_cascade_into_other_files(tmp_path: Path) -> None:
    broken = write(
        tmp_path,
        "entry.yaml",
        "flow: main\nlanguages: [en]\nstart: main_menu\nnodes:\n  main_menu:\n"
        "    kind: menu\n     prompt: Press 1.\n",
    )
    repairs = write(tmp_path, "repairs.yaml", REPAIRS)
    assert problems_of([broken, repairs]) == [
        f"{broken}:7: (file): bad indentation: this line is indented differently from the "
        "lines around it (flow 'main' is not checked until this is fixed)"
    ]


def test_a_broken_file_without_a_flow_line_is_known_by_its_file_name(tmp_path: Path) -> None:
    broken = write(tmp_path, "main.yaml", "languages: [en, zh-CN\n")
    repairs = write(tmp_path, "repairs.yaml", REPAIRS)
    assert problems_of([broken, repairs]) == [
        f"{broken}:1: (file): unclosed '[': the list opened on this line has no ']' "
        "(flow 'main' is not checked until this is fixed)"
    ]


def test_schema_and_content_problems_are_reported_in_one_pass(tmp_path: Path) -> None:
    # A bad option key used to hide the missing translation (and every other problem of
    # the file) until it was fixed. Nodes are not reported unreachable while one is broken
    # (`hello` is): the broken node may lack the very field that would lead there.
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en, zh-CN]
        start: pick
        nodes:
          pick:
            kind: menu
            prompt:
              en: Press 1.
            options:
              x: {goto: bye}
            fallback: bye
          hello:
            kind: message
            say: {en: Hi., zh-CN: 你好。}
            next: nowhere
          bye:
            kind: hangup
            say: {en: "Bye {var.order_numbr}.", zh-CN: 再见。}
        """,
    )
    assert problems == [
        f"{path}:7: pick: prompt: missing zh-CN text",
        f"{path}:9: pick: options: option 'x' is not a single key (0-9, * or #)",
        f"{path}:15: hello: next: target 'nowhere' does not exist in flow 'demo'",
        f"{path}:18: bye: say: unknown placeholder {{var.order_numbr}}: no input node saves "
        "'order_numbr'",
    ]


def test_a_target_naming_a_broken_node_is_not_reported(tmp_path: Path) -> None:
    path, problems = problems_in(
        tmp_path,
        """\
        flow: demo
        languages: [en]
        start: hello
        nodes:
          hello:
            kind: message
            say: Hi.
            next: bye
          bye:
            kind: hangup
            say: Goodbye.
            colour: red
        """,
    )
    assert problems == [f"{path}:12: bye: unknown field 'colour'"]


ORDER_FLOW = """\
flow: demo
languages: [en]
start: order
nodes:
  order:
    kind: input
    prompt: Enter your order number.
    save_as: order_number
    next: thanks
    fallback: thanks
  thanks:
    kind: hangup
    say: Thank you. Order {var.order_numbr}.
"""


def test_a_misspelt_variable_placeholder_is_reported(tmp_path: Path) -> None:
    path, problems = problems_in(tmp_path, ORDER_FLOW)
    assert problems == [
        f"{path}:13: thanks: say: unknown placeholder {{var.order_numbr}}: no input node "
        "saves 'order_numbr' (did you mean {var.order_number}?)"
    ]


def test_a_variable_saved_in_another_flow_is_known(tmp_path: Path) -> None:
    # variables carry over a goto: `other` may say what `demo` saved
    demo = write(
        tmp_path,
        "demo.yaml",
        ORDER_FLOW.replace(
            "thanks:\n    kind: hangup", "thanks:\n    kind: goto\n    flow: other"
        ).replace("    say: Thank you. Order {var.order_numbr}.\n", ""),
    )
    other = write(tmp_path, "other.yaml", OTHER.replace("Welcome to", "Order {var.order_number},"))
    assert sorted(load_flows([demo, other], CATALOG).flows) == ["demo", "other"]


def test_misspelt_variables_in_branch_and_lookup_are_reported(tmp_path: Path) -> None:
    path, problems = problems_in(
        tmp_path,
        ORDER_FLOW.replace("next: thanks", "next: check").replace(" Order {var.order_numbr}", "")
        + """\
  check:
    kind: branch
    rules:
      - when: {var: ordr_number, present: true}
        goto: find
    otherwise: thanks
  find:
    kind: lookup
    by: account_code
    account_var: order_nmber
    found: thanks
    not_found: thanks
""",
    )
    assert problems == [
        f"{path}:17: check: rules.0.when.var: no input node saves 'ordr_number' "
        "(did you mean order_number?)",
        f"{path}:23: find: account_var: no input node saves 'order_nmber' "
        "(did you mean order_number?)",
    ]
