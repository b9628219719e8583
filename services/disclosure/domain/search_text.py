"""Chinese full-text search of the catalogue (事项检索): what is indexed, how text becomes tokens, how a
query becomes a match expression, and the highlighted snippet.

Neither SQLite's FTS5 nor PostgreSQL's 'simple' text search configuration can cut Chinese into words: both
split on spaces and punctuation only. So the words are cut here, with jieba, and the database receives
text that is already "tokens separated by spaces" — on both databases the same tokens, so a query ranks the
same way in tests (SQLite) and in production (PostgreSQL). See docs/decisions.md §24.

The index and the queries must be cut by the same dictionary: after a change to DOMAIN_TERMS the index is
rebuilt (`search_index.rebuild_index`). jieba reads its bundled dictionary once (~0.5 s): `warm_up`, called
when the service starts.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import jieba

from services.disclosure.domain.catalogue import ItemDefinition

# The indexed fields, in the order of their weight: a match in the item's name counts most. `result` is
# the approval result's name (审批结果名称, e.g. 营业执照): what a citizen usually asks for by name.
FIELDS: tuple[str, ...] = ("name", "result", "conditions", "materials", "faq")
# bm25 column weights (SQLite FTS5), same order as FIELDS.
FTS5_WEIGHTS: tuple[float, ...] = (10.0, 6.0, 2.0, 2.0, 1.0)
# PostgreSQL has four weight classes: name A, result B, conditions and materials C, faq D.
TSVECTOR_CLASSES: dict[str, str] = {"name": "A", "result": "B", "conditions": "C", "materials": "C", "faq": "D"}
FIELD_LABELS: dict[str, str] = {
    "name": "事项名称", "result": "审批结果", "conditions": "受理条件", "materials": "申请材料", "faq": "常见问题",
}

# Domain terms jieba's general dictionary cuts apart or does not know; added so that each stays one token
# (jieba's search mode still adds its two- and three-character parts).
DOMAIN_TERMS: tuple[str, ...] = (
    "个体工商户", "营业执照", "设立登记", "变更登记", "注销登记", "统一社会信用代码", "农民专业合作社",
    "最低生活保障", "特困人员", "临时救助", "残疾人证", "两项补贴", "护理补贴", "优待证", "老年人优待证",
    "生育登记", "出生医学证明", "参保登记", "居民医保", "基本养老保险", "基本医疗保险", "宅基地",
    "户口簿", "居民身份证", "身份证明", "授权委托书", "食品经营许可证", "卫生许可证", "一次性告知",
    "为民服务中心", "政务服务中心", "告知承诺", "不动产权证书", "网上办理", "跑一次",
)

# Words a citizen types for a term the catalogue spells out (口语 → 规范用语). A query word matches itself
# or its synonym; the index is not touched, so adding a pair needs no rebuild.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "低保": ("最低生活保障",),
    "个体户": ("个体工商户",),
    "执照": ("营业执照",),
    "医保": ("医疗保险",),
    "社保": ("社会保险",),
    "养老金": ("养老保险",),
    "准生证": ("生育登记",),
    "老年证": ("老年人优待证",),
    "残疾证": ("残疾人证",),
}

# Function words that would match nearly every item and only add noise to the ranking.
STOPWORDS: frozenset[str] = frozenset((
    "的", "了", "和", "与", "及", "或", "等", "在", "是", "为", "对", "由", "应", "须", "其", "之", "并", "可",
    "以", "于", "按", "向", "将", "被", "把", "及其", "以及", "吗", "呢", "啊", "请", "我", "要", "怎么", "怎么办",
    "怎样", "如何", "什么", "哪些", "哪里", "需要", "办", "能", "不", "有", "无", "个", "人", "the", "and", "or", "of",
))

# A token is word characters with at least one letter or digit: a lone "_" is no token to FTS5 or PostgreSQL,
# and an empty phrase in an AND would match nothing.
_WORD = re.compile(r"^\w*[^\W_]\w*$")
_tokenizer: jieba.Tokenizer | None = None
_init_lock = threading.Lock()


def _jieba() -> jieba.Tokenizer:
    """A tokenizer of our own (not jieba's global one), loaded once, with the domain terms added."""
    global _tokenizer
    if _tokenizer is None:
        with _init_lock:
            if _tokenizer is None:
                jieba.setLogLevel(60)  # its start-up chatter goes to stderr otherwise
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                for term in DOMAIN_TERMS:
                    tokenizer.add_word(term)
                _tokenizer = tokenizer
    return _tokenizer


def warm_up() -> None:
    """Loads the dictionary now rather than in the first search or publish."""
    _jieba()


def normalise(text: str) -> str:
    """Full-width letters and digits to half-width (ＡＢＣ１２ → abc12), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _keep(token: str) -> bool:
    return bool(_WORD.match(token)) and token not in STOPWORDS


def index_tokens(text: str) -> list[str]:
    """The tokens of a text for the index: jieba's search mode, i.e. each word and its known parts
    (营业执照 → 营业, 执照, 营业执照), so a query for a part still finds the whole."""
    if not text:
        return []
    return [t for t in (s.strip() for s in _jieba().cut_for_search(normalise(text))) if _keep(t)]


def index_text(text: str) -> str:
    return " ".join(index_tokens(text))


@dataclass(frozen=True)
class SearchDocument:
    """The original text of each indexed field of one item version, and its tokens."""

    texts: dict[str, str]

    def tokens(self, field: str) -> str:
        return index_text(self.texts[field])


def document_for(definition: ItemDefinition | dict[str, Any]) -> SearchDocument:
    """What is searched of an item version: its name, result name, acceptance conditions, material names
    and FAQ (questions and answers)."""
    item = definition if isinstance(definition, ItemDefinition) else ItemDefinition.model_validate(definition)
    e = item.elements
    return SearchDocument({
        "name": item.name,
        "result": e.result_name,
        "conditions": "\n".join(e.conditions),
        "materials": "\n".join(m.name for m in item.materials),
        "faq": "\n".join(f"{f.question}\n{f.answer}" for f in e.faq),
    })


# ---- queries ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One word of the query and the ways an item may contain it: each option is a group of tokens that
    must all be present. 营业执照 → (营业执照) or (营业 and 执照); 低保 → (低保) or (最低生活保障)."""

    word: str
    options: tuple[tuple[str, ...], ...]

    def tokens(self) -> list[str]:
        return list(dict.fromkeys(t for option in self.options for t in option))


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    terms: tuple[Term, ...]

    def tokens(self) -> list[str]:
        return list(dict.fromkeys(t for term in self.terms for t in term.tokens()))


def _options(word: str) -> tuple[tuple[str, ...], ...]:
    options: list[tuple[str, ...]] = [(word,)]
    # The word's known parts, all of them together, for an item whose text jieba cut differently around this
    # word; a single part alone (个体 of 个体户) would match far more than the word.
    parts = tuple(dict.fromkeys(p for p in _jieba().cut_for_search(word) if p != word and len(p) >= 2 and _keep(p)))
    if len(parts) >= 2:
        options.append(parts)
    for synonym in SYNONYMS.get(word, ()):
        options.append((synonym,))
    return tuple(dict.fromkeys(options))


def parse_query(text: str) -> ParsedQuery:
    """The query's words (jieba's precise mode, stopwords and punctuation dropped), each with its options."""
    words = [w.strip() for w in _jieba().cut(normalise(text))]
    kept = list(dict.fromkeys(w for w in words if _keep(w)))
    return ParsedQuery(text, tuple(Term(w, _options(w)) for w in kept))


def _combine(query: ParsedQuery, strict: bool, quote: Any, and_: str, or_: str) -> str:
    if strict:
        groups = []
        for term in query.terms:
            alternatives = [f"({and_.join(quote(t) for t in opt)})" if len(opt) > 1 else quote(opt[0])
                            for opt in term.options]
            groups.append("(" + or_.join(alternatives) + ")")
        return and_.join(groups)
    return or_.join(quote(t) for t in query.tokens())


def fts5_match(query: ParsedQuery, strict: bool = True) -> str:
    """An FTS5 MATCH expression: every word (strict) or any token (relaxed). Tokens are \\w+ only, so a
    double-quoted token cannot break out of its string."""
    return _combine(query, strict, lambda t: f'"{t}"', " AND ", " OR ")


def tsquery_title_text(query: ParsedQuery, strict: bool = True) -> str:
    """The expression held to the item's name (A) and result (B): the items a citizen means by the words rank
    before those that merely mention them among materials or FAQ, whatever the text score makes of field
    lengths (a short "营业执照" result otherwise lost to a long list of materials asking for one)."""
    return _combine(query, strict, lambda t: f"'{t}':AB", " & ", " | ")


def tsquery_text(query: ParsedQuery, strict: bool = True) -> str:
    """The same expression for PostgreSQL's to_tsquery('simple', …)."""
    return _combine(query, strict, lambda t: f"'{t}'", " & ", " | ")


# ---- snippets ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Snippet:
    field: str
    html: str  # HTML-escaped text with each match in <em>…</em>


def _marker(query: ParsedQuery) -> re.Pattern[str] | None:
    tokens = sorted(query.tokens(), key=len, reverse=True)  # longest first: 营业执照 before 营业
    if not tokens:
        return None
    return re.compile("|".join(re.escape(t) for t in tokens), re.IGNORECASE)


def _mark(text: str, pattern: re.Pattern[str]) -> str:
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last:m.start()]))
        out.append(f"<em>{html.escape(m.group())}</em>")
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def snippet(document: SearchDocument, query: ParsedQuery, width: int = 60) -> Snippet:
    """The first field, by weight, where the query appears, cut to about `width` characters around the
    first match; the name, unmarked, if no token appears literally (e.g. matched through another cut)."""
    pattern = _marker(query)
    if pattern is not None:
        for field in FIELDS:
            text = normalise_spaces(document.texts[field])
            m = pattern.search(normalise(text))
            if m is None:
                continue
            if len(text) > width:
                start = max(0, min(m.start() - width // 3, len(text) - width))
                cut = text[start:start + width]
                text = ("…" if start > 0 else "") + cut + ("…" if start + width < len(text) else "")
            return Snippet(field, _mark(text, pattern))
    return Snippet("name", html.escape(document.texts["name"]))


def normalise_spaces(text: str) -> str:
    """Line breaks between conditions or FAQ entries shown as a separator, runs of spaces as one."""
    return re.sub(r"\s*\n\s*", "；", text.strip()).replace("  ", " ")
