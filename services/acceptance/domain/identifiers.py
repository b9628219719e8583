"""Identity numbers an applicant or agent gives: 公民身份号码 (GB 11643-1999) and 统一社会信用代码 (GB 32100-2015).

Each check answers None when the number is valid, else why not in Chinese, so the window clerk can read the
reason to the applicant. Plain functions, no I/O; `today` is passed in so tests and callers fix the clock.
"""

from __future__ import annotations

from datetime import date

# 省级行政区划代码 (GB/T 2260): the 34 province-level divisions, including 台湾 71, 香港 81, 澳门 82.
PROVINCE_CODES: dict[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}

# 公民身份号码: ISO 7064 MOD 11-2, weights 2^(17-i) mod 11, remainder → check character.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)

# 统一社会信用代码: 31 characters (no I O S V Z, which read like digits), value = index; check MOD 31.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 32100-2015 表1 with its amendments: 登记管理部门代码 → the 机构类别代码 it may use.
USCC_CATEGORIES: dict[str, dict[str, str]] = {
    "1": {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},  # 机构编制
    "2": {"1": "外国常驻新闻机构", "9": "其他"},  # 外交
    "3": {"1": "律师执业机构", "2": "公证处", "3": "基层法律服务所", "4": "司法鉴定机构", "5": "仲裁委员会",
          "9": "其他"},  # 司法行政
    "4": {"1": "外国在华文化中心", "9": "其他"},  # 文化
    "5": {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"},  # 民政
    "6": {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},  # 旅游
    "7": {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"},  # 宗教
    "8": {"1": "基层工会", "9": "其他"},  # 工会
    "9": {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"},  # 工商 (市场监管)
    "A": {"1": "军队事业单位", "9": "其他"},  # 中央军委改革和编制办公室
    "N": {"1": "组级集体经济组织", "2": "村级集体经济组织", "3": "乡镇级集体经济组织", "9": "其他"},  # 农业
    "Y": {"1": "其他"},  # 其他: not divided further
}
_USCC_AUTHORITIES = {
    "1": "机构编制", "2": "外交", "3": "司法行政", "4": "文化", "5": "民政", "6": "旅游", "7": "宗教", "8": "工会",
    "9": "工商", "A": "中央军委改革和编制办公室", "N": "农业", "Y": "其他",
}
# Organisations registered by a central authority carry the national code 100000, not a province's.
_NATIONAL_REGION = "100000"

# 组织机构代码 (GB 11714-1997): 8 body characters (digits, upper-case letters A=10 … Z=35) and a MOD 11 check.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUES = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def normalise_resident_id(number: str) -> str:
    """Surrounding spaces dropped and a lower-case check character x written X, as the standard prints it."""
    number = number.strip()
    return number[:-1] + "X" if number.endswith("x") else number


def resident_id_check_char(first17: str) -> str:
    """The 18th character of a 公民身份号码 whose first 17 digits are given."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_problem(number: str, today: date) -> str | None:
    """None when `number` is a valid 公民身份号码 (normalise it first), else why not (中文)."""
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        return "公民身份号码应为18位，前17位为数字，末位为数字或X"
    if not number.isascii():  # str.isdigit accepts full-width and other scripts' digits
        return "公民身份号码应为18位，前17位为数字，末位为数字或X"
    if number[:2] not in PROVINCE_CODES:
        return f"公民身份号码前6位应为行政区划代码，但“{number[:2]}”不是省级行政区划代码"
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "公民身份号码中的出生日期不是有效日期"
    if born > today:
        return "公民身份号码中的出生日期晚于今天"
    if born < _EARLIEST_BIRTH:
        return "公民身份号码中的出生日期早于1900年"
    # 顺序码 (digits 15–17): any three digits; odd for men, even for women. The standard forbids no value,
    # so none is refused here.
    if resident_id_check_char(number[:17]) != number[17]:
        return "公民身份号码校验码不正确，请核对号码"
    return None


def organisation_code_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body: 0–9 or X."""
    total = sum(_ORG_VALUES.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def uscc_check_char(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 whose first 17 characters are given."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """None when `code` is a valid 统一社会信用代码 (upper case), else why not (中文).

    Not python-stdnum's check: it refuses the registration authorities A, N and Y, which the standard's
    amendments added."""
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return "统一社会信用代码应为18位，由数字和大写字母（不含I、O、S、V、Z）组成"
    authority, category = code[0], code[1]
    if authority not in USCC_CATEGORIES:
        return f"统一社会信用代码第1位“{authority}”不是登记管理部门代码"
    if category not in USCC_CATEGORIES[authority]:
        return (f"统一社会信用代码第2位“{category}”不是{_USCC_AUTHORITIES[authority]}登记管理部门的机构类别代码")
    region = code[2:8]
    if not region.isdigit() or (region[:2] not in PROVINCE_CODES and region != _NATIONAL_REGION):
        return f"统一社会信用代码第3至8位“{region}”不是行政区划代码"
    organisation = code[8:17]
    if organisation_code_check_char(organisation[:8]) != organisation[8]:
        return "统一社会信用代码第9至17位的组织机构代码校验码不正确，请核对号码"
    if uscc_check_char(code[:17]) != code[17]:
        return "统一社会信用代码校验码不正确，请核对号码"
    return None
