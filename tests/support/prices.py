"""What a usage report costs by the pricing table's stated rules, computed
apart from batchd (exact fractions) so tests can hold its ledger to them:
lookup per the table's lookup_rule, a rate's batch price as published, else
the table's batch_rule percent off the regular one. Reasoning tokens are
inside the output; cache writes and image tokens inside the input. Usage
here is the simulator's per-model sums, so every line is taken as short
(under 272,000 input tokens), which the tests keep true."""
import json
import os
import re
from fractions import Fraction

PRICING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "pricing.json")


def load(path=PRICING):
    with open(path) as f:
        return json.load(f)


def row_for(table, model):
    """(row name, row) by the table's lookup rule, or (None, None)."""
    rows = table["models"]
    if model in rows:
        return model, rows[model]
    name = model
    if model.startswith("ft:"):
        name = "ft:" + model[3:].split(":")[0]
        if name in rows:
            return name, rows[name]
    family = re.sub(r"-(\d{4}-\d{2}-\d{2}|\d{4})$", "", name)
    if family in rows:
        return family, rows[family]
    return None, None


def rate(table, row, key, batch, tier=None):
    """USD per token as a Fraction; None when not published (or not offered in batch)."""
    t = row if tier is None else row[tier]
    if key not in t:
        return None
    regular = Fraction(t[key]) / 1_000_000
    if not batch:
        return regular
    if key in t.get("batch", {}):
        return Fraction(t["batch"][key]) / 1_000_000
    if row.get("batch_offered", True) is False:
        return None
    return regular * Fraction(100 - table["batch_rule"]["percent"], 100)


def cost_pusd(table, usage_by_model, batch=True):
    """The cost in pico-dollars, exactly; None if any part is unknown."""
    total = Fraction(0)
    for model, u in usage_by_model.items():
        _, row = row_for(table, model)
        if row is None:
            return None
        image = u.get("image_tokens", 0) if "image" in row else 0
        cached, write = u.get("cached_tokens", 0), u.get("cache_write_tokens", 0)
        parts = [(u["prompt_tokens"] - cached - write - image, "input", None), (cached, "cached_input", None),
                 (write, "cache_write", None)]
        if "image" in row:
            parts += [(image, "input", "image"), (u.get("completion_tokens", 0), "output", "image")]
        else:
            parts += [(u.get("completion_tokens", 0), "output", None)]
        for n, key, tier in parts:
            if n == 0:
                continue
            r = rate(table, row, key, batch, tier)
            if r is None:
                return None
            total += n * r
    pico = total * 10**12
    assert pico.denominator == 1, "prices are whole pico-dollars per token"
    return int(pico)
