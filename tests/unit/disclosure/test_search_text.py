"""Search text: jieba tokens for the index, queries as match expressions, synonyms and snippets."""

from __future__ import annotations

from services.disclosure.domain.catalogue import ItemDefinition
from services.disclosure.domain.search_text import (
    document_for,
    fts5_match,
    index_tokens,
    parse_query,
    snippet,
    tsquery_text,
)


def definition() -> ItemDefinition:
    return ItemDefinition.model_validate(dict(
        item_code="320102000000-01-0001", name="个体工商户设立登记", item_type="01", department="区市场监督管理局",
        region_code="320102000000", legal_limit={"value": 15, "unit": "working_days"},
        promised_limit={"value": 3, "unit": "working_days"},
        materials=[{"code": "M01", "name": "个体工商户设立登记申请书"}, {"code": "M02", "name": "经营者身份证明"}],
        elements={"result_name": "营业执照",
                  "conditions": ["有经营能力的自然人",
                                 "经营场所符合<规定>的要求，" + "并" * 80 + "不得从事禁止经营的行业"],
                  "faq": [{"question": "多久能领取营业执照？", "answer": "材料齐全的当场办结。"}]},
    ))


def test_index_tokens_hold_words_and_their_parts_without_punctuation_or_function_words() -> None:
    tokens = index_tokens("申请人应当持有居民身份证，领取营业执照的")
    assert {"营业执照", "营业", "执照", "居民身份证", "身份证", "申请人"} <= set(tokens)
    assert "，" not in tokens and "的" not in tokens
    assert index_tokens("ＡＢＣ１２３") == ["abc123"]  # full-width folded, lower case
    assert index_tokens("") == []


def test_domain_terms_stay_whole() -> None:
    # jieba's own dictionary cuts 个体工商户 as 个体 / 工商户; the domain term keeps it one word.
    assert [t.word for t in parse_query("个体工商户").terms] == ["个体工商户"]
    assert "个体工商户" in index_tokens("个体工商户设立登记")


def test_a_query_word_matches_itself_all_its_parts_or_its_synonym() -> None:
    query = parse_query("低保 营业执照")
    assert [t.word for t in query.terms] == ["低保", "营业执照"]
    assert query.terms[0].options == (("低保",), ("最低生活保障",))
    assert query.terms[1].options == (("营业执照",), ("营业", "执照"))
    assert fts5_match(query) == '("低保" OR "最低生活保障") AND ("营业执照" OR ("营业" AND "执照"))'
    assert tsquery_text(query) == "('低保' | '最低生活保障') & ('营业执照' | ('营业' & '执照'))"
    assert tsquery_text(query, strict=False) == "'低保' | '最低生活保障' | '营业执照' | '营业' | '执照'"


def test_query_syntax_cannot_leak_into_the_expression() -> None:
    query = parse_query('营业执照" OR * NEAR(a b) \' & ! 的')
    expression = fts5_match(query)
    assert '"' not in expression.replace('"营业执照"', "").replace('"营业"', "").replace('"执照"', "").replace(
        '"or"', "").replace('"near"', "").replace('"a"', "").replace('"b"', "")
    assert "*" not in expression and "'" not in fts5_match(query) and "!" not in tsquery_text(query)
    assert parse_query("的，。！").terms == ()
    assert parse_query("_ __").terms == ()  # no letter or digit: an empty phrase would match nothing
    assert [t.word for t in parse_query("a_1 营业执照").terms] == ["a", "1", "营业执照"]


def test_the_document_holds_name_result_conditions_materials_and_faq() -> None:
    doc = document_for(definition())
    assert doc.texts["name"] == "个体工商户设立登记" and doc.texts["result"] == "营业执照"
    assert "经营者身份证明" in doc.texts["materials"] and "多久能领取营业执照" in doc.texts["faq"]
    assert "营业执照" in doc.tokens("result").split() and "营业执照" in doc.tokens("faq").split()
    assert document_for(definition().model_dump(mode="json")) == doc  # from the stored JSON alike


def test_the_snippet_comes_from_the_weightiest_field_marked_and_escaped() -> None:
    doc = document_for(definition())
    assert snippet(doc, parse_query("营业执照")).html == "<em>营业执照</em>"  # the result name before the FAQ
    cut = snippet(doc, parse_query("禁止"), width=30)
    assert cut.field == "conditions"
    assert cut.html.startswith("…") and "<em>禁止</em>" in cut.html and len(cut.html) < 80
    shown = snippet(doc, parse_query("规定"))
    assert "&lt;<em>规定</em>&gt;" in shown.html  # the text is escaped, only the marks are HTML
    assert snippet(doc, parse_query("火星")).html == "个体工商户设立登记"  # nothing literal: the name
