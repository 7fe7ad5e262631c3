"""A small LALR(1) driver for tables that Lark computes from ``grammar/matcalc.lark``.

Lark builds the parse table and the contextual lexer from the grammar; ``generate()``
writes them, as plain data, to ``matcalc/_tables.py`` (run ``python -m matcalc.lalr``
after editing the grammar; tests check that the committed tables read every input as
tables generated from today's grammar do, and as Lark's own parser does).  At run time only that data and this driver are loaded, so a
fresh process parses its first expression without importing Lark or building tables.

The driver mirrors Lark's LALR parser and contextual lexer: in each parser state only
the terminals that state accepts are tried, in Lark's order (priority, then width),
whitespace is skipped, and on a reduce the rule's callback builds the value (rules
named ``_...`` splice their children into the parent, ``?rule`` passes a single child
through).  Errors carry the position: an unexpected character, an unexpected token,
or the end of the input.
"""
from __future__ import annotations

import re


class Token(str):
    """A token: its text, terminal name and position."""

    __slots__ = ("type", "start_pos", "end_pos")

    def __new__(cls, type_: str, value: str, start: int):
        t = super().__new__(cls, value)
        t.type = type_
        t.start_pos = start
        t.end_pos = start + len(value)
        return t


class UnexpectedCharacter(Exception):
    def __init__(self, pos: int):
        super().__init__(pos)
        self.pos = pos


class UnexpectedToken(Exception):
    def __init__(self, token: Token):
        super().__init__(token)
        self.token = token


class _Lexers:
    """One compiled alternation per terminal set (the contextual lexer)."""

    def __init__(self, tables):
        self.tables = tables
        self.compiled: dict[int, re.Pattern] = {}
        self.accepted = [frozenset(names) for names in tables.LEXERS]

    def regex(self, index: int) -> re.Pattern:
        out = self.compiled.get(index)
        if out is None:
            names = self.tables.LEXERS[index]
            out = re.compile("|".join(f"(?P<{n}>{self.tables.TERMINALS[n]})" for n in names))
            self.compiled[index] = out
        return out

    def next(self, text: str, pos: int, index: int) -> Token:
        """The next token at ``pos`` that the lexer ``index`` accepts (whitespace and
        other ignored terminals skipped); ``$END`` at the end."""
        ignore = self.tables.IGNORE
        root_lexer = self.tables.ROOT_LEXER
        while pos < len(text):
            # The root lexer's alternation lists every terminal in the order that each
            # contextual one keeps, so when its first match is a terminal this state
            # accepts, that is the contextual lexer's match too; compiling one regex
            # instead of one per state saves a fresh process about a millisecond.
            m = self.regex(root_lexer).match(text, pos)
            if m is None or m.lastgroup not in self.accepted[index]:
                m = self.regex(index).match(text, pos)
            if m is None:
                root = self.regex(self.tables.ROOT_LEXER).match(text, pos)
                if root is not None and root.lastgroup not in ignore:
                    raise UnexpectedToken(Token(root.lastgroup, root.group(), pos))
                raise UnexpectedCharacter(pos)
            if m.lastgroup in ignore:
                pos = m.end()
                continue
            return Token(m.lastgroup, m.group(), pos)
        return Token("$END", "", len(text))


_LEXERS: dict = {}


def parse(text: str, tables, callbacks) -> object:
    """Parse ``text`` with ``tables`` (the module ``matcalc._tables``), building values
    with ``callbacks`` (an object with one method per rule name)."""
    lexers = _LEXERS.get(id(tables))
    if lexers is None:
        lexers = _LEXERS[id(tables)] = _Lexers(tables)
    actions, rules = tables.ACTIONS, tables.RULES
    states = [tables.START]
    values: list = []
    token = lexers.next(text, 0, tables.STATE_LEXER[tables.START])
    while True:
        state = states[-1]
        action = actions[state].get(token.type)
        if action is None:
            raise UnexpectedToken(token)
        kind, arg = action
        if kind == 0:  # shift
            states.append(arg)
            values.append(token)
            token = lexers.next(text, token.end_pos, tables.STATE_LEXER[arg])
            continue
        origin, size, how, name = rules[arg]
        children = values[len(values) - size:] if size else []
        del values[len(values) - size:]
        del states[len(states) - size:]
        if how == "inline":
            value = _Spliced(_splice(children))
        elif how == "expand1" and len(_splice(children)) == 1:
            value = _splice(children)[0]
        else:
            value = getattr(callbacks, name)(_splice(children))
        states.append(actions[states[-1]][origin][1])
        values.append(value)
        if token.type == "$END" and states[-1] == tables.END:
            return value


class _Spliced(list):
    """The children of an inlined rule, spliced into its parent's."""


def _splice(children: list) -> list:
    out: list = []
    for c in children:
        if isinstance(c, _Spliced):
            out.extend(c)
        else:
            out.append(c)
    return out


# ---------------------------------------------------------------------------
# generating the tables (needs Lark; run when the grammar changes)
# ---------------------------------------------------------------------------

def generate(grammar: str) -> str:
    """The source of ``matcalc/_tables.py`` for ``grammar``."""
    import lark
    parser = lark.Lark(grammar, parser="lalr", propagate_positions=True,
                       maybe_placeholders=False)
    frontend = parser.parser
    table = frontend.parser.parser.parse_table
    rules = parser.rules
    rule_index = {id(r): i for i, r in enumerate(rules)}
    terminals = {t.name: t.pattern.to_regexp() for t in parser.terminals}

    def lexer_order(lexer) -> list[str]:
        return [t.name for t in lexer.scanner.terminals]

    contextual = frontend.lexer
    lexers: list[list[str]] = []
    state_lexer: dict[int, int] = {}
    for state, lexer in sorted(contextual.lexers.items()):
        names = lexer_order(lexer)
        if names not in lexers:
            lexers.append(names)
        state_lexer[state] = lexers.index(names)
    root = lexer_order(contextual.root_lexer)
    if root not in lexers:
        lexers.append(root)
    actions = []
    for state in range(len(table.states)):
        row = {}
        for symbol, (action, arg) in table.states[state].items():
            if action.name == "Shift":
                row[str(symbol)] = (0, arg)
            else:
                row[str(symbol)] = (1, rule_index[id(arg)])
        actions.append(row)
    rule_rows = []
    for r in rules:
        origin = str(r.origin.name)
        if origin.startswith("_"):
            how = "inline"
        elif r.options.expand1 and r.alias is None:
            how = "expand1"
        else:
            how = "build"
        rule_rows.append((origin, len(r.expansion), how, str(r.alias or origin)))
    lines = [
        '"""LALR tables of grammar/matcalc.lark, generated by matcalc.lalr.generate()',
        "(python -m matcalc.lalr).  Do not edit: regenerate after changing the grammar.",
        '"""',
        f"TERMINALS = {terminals!r}",
        f"IGNORE = {frozenset(parser.ignore_tokens)!r}",
        f"LEXERS = {lexers!r}",
        f"ROOT_LEXER = {lexers.index(root)!r}",
        f"STATE_LEXER = {[state_lexer.get(s, lexers.index(root)) for s in range(len(actions))]!r}",
        f"START = {table.start_states['start']!r}",
        f"END = {table.end_states['start']!r}",
        f"RULES = {rule_rows!r}",
        "ACTIONS = [",
        *[f"    {row!r}," for row in actions],
        "]",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    from pathlib import Path
    here = Path(__file__).resolve().parent
    from matcalc.syntax import grammar_text
    (here / "_tables.py").write_text(generate(grammar_text()), encoding="utf-8")
    print(f"wrote {here / '_tables.py'}")
