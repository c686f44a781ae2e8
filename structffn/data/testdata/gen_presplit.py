#!/usr/bin/env python3
"""Writes presplit.json: GPT-2's pre-tokenisation of tricky strings, as the reference for preSplit.

The pattern is GPT-2's (openai/gpt-2 src/encoder.py), applied with the `regex` module as GPT-2 does.
Run from this directory: python3 gen_presplit.py
"""
import json

import regex

PAT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

TEXTS = [
    "Hello world",
    "I'm here, don't we'll they're you've I'd",
    "x  = 42;",
    "func f() {\n\treturn 1\n}\n",
    "a   \n\n  b",
    "end   ",
    " ",
    "  ",
    "\n",
    "naïve café 世界 ½ Ⅻ ٣٤",
    "'hello' 'sx 'S 'LL",
    "if err != nil {\n\t\treturn nil, fmt.Errorf(\"x: %w\", err)\n\t}\n",
    "// Comment: the (quick) brown fox -- jumps!!  \r\n  over\u00a0the\u2003lazy\u3000dog",
    "tabs\t\tand  spaces \t mixed\t",
    "emoji 🙂🙂 and ZWJ 👩‍👩‍👧 ok",
    "numbers 3.14159 1e10 0x1F 1_000",
    "\u2028line\u2029para\x85nel",
    "   leading",
    "a\u0301 combining",
]

out = [{"text": t, "pieces": PAT.findall(t)} for t in TEXTS]
with open("presplit.json", "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
