"""Legal names as the registry keeps them: what was typed, without the spaces a Chinese name
never has ("李 伟" is 李伟), so that signing "李伟" later matches."""

from __future__ import annotations

import re

# Han characters (the unified ideographs, extension A, the compatibility block) and the middle
# dots that join the parts of a transliterated name (阿依古丽·买买提).
_HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u00b7\u30fb]"
_INNER_SPACE = re.compile(f"(?<={_HAN}) (?={_HAN})")


def normal_name(name: str) -> str:
    """Spaces collapsed, and none left between two Han characters (or beside a middle dot);
    names in Latin letters keep theirs."""
    return _INNER_SPACE.sub("", " ".join(name.split()))


def same_name(typed: str, legal_name: str) -> bool:
    """Whether a signature is the legal name, however its spaces were typed."""
    return bool(typed) and normal_name(typed) == normal_name(legal_name)
