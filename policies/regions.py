"""GB/T 2260 region codes as identifiers carry them: which 6-digit codes are plausible.

Guarantees:
- `PROVINCE_PREFIXES` holds every province-level prefix (digits 1-2) GB/T 2260 defines, plus 83.
- `citizen_region_problem` returns None for every address code known to occur on real citizen ID
  numbers (and on Hong Kong, Macao and Taiwan residents' residence permit numbers), and otherwise
  a plain-words reason that quotes no digit of the code. It needs no table of counties, so it does
  not age when counties are created, renamed or abolished (old numbers keep their old codes).

The rule, and why it stops where it does (GB 11643-1999 §5.1.1: the address code is the GB/T 2260
code of the county-level division where the holder's household is registered):
- Digits 1-2 must be a province-level prefix. 83 is not in GB/T 2260 but is the address code of
  Taiwan residents' residence permits, which, like 810000 and 820000 for Hong Kong and Macao
  residents, use the citizen ID structure (港澳台居民居住证申领发放办法, 2018); their holders can
  be credit subjects here. 71 (Taiwan) is accepted because GB/T 2260 lists it.
- Digits 3-4 (the prefecture part) must be 00-70 or 90. GB/T 2260's coding rules give 01-20 and
  51-70 to prefecture-level cities (and, in a municipality, to its districts and its counties
  taken together), 21-50 to prefectures, autonomous prefectures and leagues, and 90 to the
  county-level units a province administers directly; 00 is the province itself, and Hainan's
  directly administered counties had 4600xx codes (460001-460036) before they became 4690xx,
  which old ID numbers still carry. Checked against the Ministry of Civil Affairs code lists (the
  current list and every code abandoned since 1980, as collected in the address-code-of-china
  data set): no code ever in use has a prefecture part of 71-89 or 91-99.
- Digits 1-6 must be exactly 710000, 810000, 820000 or 830000 when digits 1-2 are 71, 81, 82 or
  83: GB/T 2260 lists no subdivision of Taiwan, Hong Kong or Macao, and residence permits use only
  those three codes.
- Digits 5-6 (the county part) are not checked: 00 is the code of prefecture-level cities that
  have no county-level divisions (441900 Dongguan, 442000 Zhongshan, 620200 Jiayuguan) and of
  residence permits; 01 (a city's districts taken together) and 20 (a city's urban area in the
  1980 and 1982 editions) were used as address codes when ID numbers were first issued (numbers
  beginning 440401 are in use); the remaining values 02-99 are ordinary county codes.
A code that passes may still name no division that ever existed; only a dated table could tell,
and the check character already catches any single mistyped digit.
"""

from __future__ import annotations

#: Province-level prefixes of GB/T 2260 region codes (plus 83, see the module docstring).
PROVINCE_PREFIXES: frozenset[str] = frozenset(
    (
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82", "83"),
    )
)

#: Central-level organisations are registered under this region in their credit code.
CENTRAL_REGION = "100000"

#: Prefecture parts (digits 3-4) GB/T 2260 assigns: 00 (the province), 01-70 and 90.
PREFECTURE_PARTS: frozenset[str] = frozenset(f"{n:02d}" for n in (*range(71), 90))

#: Province-level prefixes with no subdivision: their only code is the prefix followed by 0000.
UNDIVIDED_PREFIXES: frozenset[str] = frozenset(("71", "81", "82", "83"))


def citizen_region_problem(region: str) -> str | None:
    """Why 6 digits cannot be a citizen ID's address code, in plain words; None if plausible."""
    province, rest = region[:2], region[2:]
    if province not in PROVINCE_PREFIXES:
        return "the region code (first 2 digits) is not a province-level code"
    if province in UNDIVIDED_PREFIXES:
        if rest != "0000":
            return (
                "the region code of Taiwan, Hong Kong, Macao or a residence permit "
                "(first 2 digits 71, 81, 82 or 83) ends in 0000"
            )
    elif rest[:2] not in PREFECTURE_PARTS:
        return (
            "the prefecture part of the region code (characters 3-4) is not one "
            "GB/T 2260 assigns (00 to 70, or 90)"
        )
    return None
