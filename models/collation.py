"""Vietnamese alphabetical order as a stored, byte-comparable key (``Commune.name_key``).

Paged tables sort in SQL on SQLite and PostgreSQL, and neither orders Vietnamese by itself (code points
put "Hòa" before "Hải", "Tây" before "Đông"). ``sort_key`` maps a name to ASCII digits and lower-case
letters whose byte order is the Vietnamese order, case-insensitive:

- first the letters: a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y (f j w z in their Latin
  places), a word break before any letter ("Tam An" before "Tama"), numbers by value ("Phường 2" before
  "Phường 10");
- then, only between names equal so far, the tone of each word: ngang, huyền, hỏi, ngã, sắc, nặng.

It lives beside the models because the model keeps the key in step with the name (``models.commune``).
"""

from __future__ import annotations

import unicodedata

# the tone marks (NFD combining characters) in the conventional order; no mark is ngang
TONES = {"\u0300": "1", "\u0309": "2", "\u0303": "3", "\u0301": "4", "\u0323": "5"}  # huyền hỏi ngã sắc nặng
# the letters that differ from their base by a mark: (base, mark) -> place after the base
_BREVE, _CIRCUMFLEX, _HORN = "\u0306", "\u0302", "\u031b"
_MODIFIED = {("a", _BREVE): "1", ("a", _CIRCUMFLEX): "2", ("e", _CIRCUMFLEX): "1", ("o", _CIRCUMFLEX): "1",
             ("o", _HORN): "2", ("u", _HORN): "1"}

# every unit of the first level is at least two characters and sorts above LEVELS, so a name that is a
# prefix of another sorts first and the tones are compared only between equal letters
LEVELS = "00"  # between the letters and the tones
BREAK = "01"  # spaces and punctuation between words, however many
NUMBER = "1"  # + two digits of length + the digits: shorter numbers first
OTHER = "z9"  # + six hex digits: a character of another script, after every letter


def sort_key(name: str | None) -> str:
    """The key that sorts ``name`` in Vietnamese alphabetical order ("Tam Hải" -> "t0a0m001h0a0i0" "00" "02")."""
    letters: list[str] = []
    tones: list[str] = []
    in_word = False
    pending_break = False
    text = unicodedata.normalize("NFD", (name or "").lower())
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if "0" <= ch <= "9":
            j = i
            while j < n and "0" <= text[j] <= "9":
                j += 1
            digits = text[i:j].lstrip("0") or "0"
            unit, i, in_word = f"{NUMBER}{min(len(digits), 99):02d}{digits}", j, False
        elif unicodedata.category(ch).startswith("L"):  # đ too: it has no decomposition
            marks = ""
            i += 1
            while i < n and unicodedata.combining(text[i]):
                marks += text[i]
                i += 1
            unit = _letter(ch, marks)
            tone = next((TONES[m] for m in marks if m in TONES), None)
            if not in_word:
                tones.append("0")
                in_word = True
            if tone is not None and tones[-1] == "0":
                tones[-1] = tone  # one tone per word (syllable): "hòa" and "hoà" are the same word
        else:
            i += 1
            if not unicodedata.combining(ch):  # a stray mark is ignored; anything else breaks the word
                pending_break, in_word = bool(letters), False
            continue
        if pending_break:
            letters.append(BREAK)
            pending_break = False
        letters.append(unit)
    return "".join(letters) + LEVELS + "".join(tones)


def _letter(base: str, marks: str) -> str:
    """The first-level unit of one letter: its base and its place among the letters sharing that base."""
    if base == "đ":
        return "d1"
    if "a" <= base <= "z":
        return base + next((_MODIFIED[(base, m)] for m in marks if (base, m) in _MODIFIED), "0")
    return f"{OTHER}{ord(base):06x}"
