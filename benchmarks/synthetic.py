"""Realistic synthetic extraction records for scale tests: N records over V distinct value phrases.

    .venv/bin/python benchmarks/synthetic.py --values 100000 --records 1000000 -o /tmp/records.csv [--seed 0]
    .venv/bin/python benchmarks/synthetic.py --values 10000 --records 100000 -o /tmp/records.jsonl

One row per (conversation, value) extraction, the shape `taxo ingest` reads as *records*:
``conversation_id,value,role,task,excerpt``.

* **Value phrases** look like the published ones ("honesty", "patient autonomy", "transparency about
  limitations", "emotional support for grieving users"): a head value (about 160 of them, in 16 families such as
  honesty, care, autonomy...) with an optional qualifier ("professional", "intellectual", ...) and an optional
  context ("in medical advice", "toward colleagues", ...). Phrases sharing a head or family are semantically close,
  so the embeddings have the nested cluster structure a real taxonomy has. Every phrase is distinct after
  normalisation; the simplest forms come first, so smaller ``--values`` keep mostly short phrases, as real data.
* **Counts** are Zipf-like: every value occurs at least once; the remaining records are drawn with probability
  proportional to ``1 / (rank + 2.7) ** 1.07`` over a seeded ranking that favours the simpler phrases, with
  noise (the published `pct_convos` have a similar head). A few surface forms differ in case or spacing from the normalised phrase (aliases).
* **Conversations**: about ``records / 4`` conversation ids; each record lands in a random conversation, and the
  file lists the records conversation by conversation.
* **role** (ai 82 %, human 18 %), **task** (one of 30 task types, per conversation) and a **200-character
  excerpt** that mentions the surface form.

Same arguments and seed -> byte-identical file. Memory: O(records) numpy ints, rows streamed to the file.
1M records / 100k values take about 5 s on a quiet core and 260 MB on disk (CSV).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

FAMILIES: dict[str, list[str]] = {
    "honesty": ["honesty", "truthfulness", "transparency", "candor", "accuracy", "sincerity", "factual accuracy",
                "intellectual honesty", "epistemic humility", "acknowledging uncertainty"],
    "care": ["compassion", "empathy", "kindness", "emotional support", "care for wellbeing", "patience",
             "gentleness", "warmth", "emotional validation", "comfort"],
    "autonomy": ["autonomy", "self-determination", "freedom of choice", "respect for decisions", "independence",
                 "personal agency", "consent", "informed consent", "self-reliance", "empowerment"],
    "harm": ["harm prevention", "safety", "risk awareness", "caution", "protection of vulnerable people",
             "responsible disclosure", "child safety", "violence prevention", "self-harm prevention",
             "public safety"],
    "fairness": ["fairness", "equality", "justice", "impartiality", "non-discrimination", "inclusivity",
                 "equal treatment", "social justice", "accessibility", "equity"],
    "privacy": ["privacy", "confidentiality", "data protection", "discretion", "personal boundaries",
                "information security", "anonymity", "privacy protection", "consent to data use", "secrecy"],
    "competence": ["expertise", "technical excellence", "thoroughness", "precision", "clarity", "efficiency",
                   "rigor", "attention to detail", "quality", "professional competence"],
    "learning": ["education", "curiosity", "intellectual growth", "critical thinking", "knowledge sharing",
                 "learning", "understanding", "open-mindedness", "scientific inquiry", "skill development"],
    "creativity": ["creativity", "artistic expression", "imagination", "originality", "innovation",
                   "playfulness", "humor", "aesthetic appreciation", "storytelling", "creative freedom"],
    "respect": ["respect", "dignity", "politeness", "courtesy", "cultural sensitivity", "tolerance",
                "respect for diversity", "humility", "professionalism", "respectful disagreement"],
    "responsibility": ["accountability", "responsibility", "reliability", "integrity", "duty", "commitment",
                       "trustworthiness", "ethical conduct", "legal compliance", "following rules"],
    "community": ["community", "cooperation", "collaboration", "family bonds", "friendship", "loyalty",
                  "social connection", "belonging", "mutual support", "teamwork"],
    "wellbeing": ["health", "mental health", "work-life balance", "physical wellbeing", "stress reduction",
                  "healthy habits", "self-care", "rest", "resilience", "personal growth"],
    "prosperity": ["financial security", "economic growth", "prosperity", "career success", "productivity",
                   "entrepreneurship", "financial prudence", "wealth creation", "stability", "ambition"],
    "nature": ["environmental sustainability", "animal welfare", "conservation", "ecological balance",
               "climate responsibility", "respect for nature", "sustainability", "biodiversity",
               "resource conservation", "environmental stewardship"],
    "tradition": ["tradition", "cultural heritage", "religious respect", "spirituality", "faith",
                  "historical accuracy", "preservation of customs", "national identity", "ritual", "reverence"],
}

QUALIFIERS = [
    "professional", "personal", "emotional", "intellectual", "user", "patient", "customer", "academic",
    "scientific", "ethical", "practical", "social", "cultural", "technical", "creative", "moral", "legal",
    "financial", "medical", "political", "parental", "interpersonal", "digital", "organizational", "spiritual",
    "historical", "environmental", "educational", "religious", "civic", "collective", "individual",
    "workplace", "romantic", "family", "public", "mutual", "balanced", "long-term", "proactive",
]

CONTEXTS = [
    "in medical advice", "in legal questions", "in financial planning", "in education", "in parenting",
    "in relationships", "in the workplace", "in creative writing", "in software development", "in research",
    "in journalism", "in politics", "in customer service", "in healthcare", "in mental health support",
    "in grief", "in conflict resolution", "in negotiation", "in hiring", "in marketing", "in history",
    "in religion", "in science communication", "in data analysis", "in public policy", "in gaming",
    "toward colleagues", "toward children", "toward elderly people", "toward strangers", "toward users",
    "toward minorities", "toward animals", "toward future generations", "toward oneself", "toward clients",
    "for students", "for patients", "for vulnerable users", "for small businesses", "for beginners",
    "for artists", "for researchers", "for caregivers", "for immigrants", "for people with disabilities",
    "about limitations", "about risks", "about uncertainty", "about sources", "about costs", "about motives",
    "under pressure", "during a crisis", "across cultures", "in online communities", "in sports",
    "in travel", "in cooking", "in fiction",
]

TASKS = [
    "software development", "creative writing", "medical question", "legal question", "financial advice",
    "relationship advice", "education and tutoring", "research assistance", "data analysis", "translation",
    "career advice", "mental health support", "parenting advice", "travel planning", "cooking",
    "marketing copy", "academic writing", "philosophy discussion", "history question", "science explanation",
    "product recommendation", "technical support", "role play", "game design", "political discussion",
    "religious question", "fitness coaching", "business strategy", "editing and proofreading", "summarization",
]

_FILLER = (
    "The assistant considered the request carefully, explained its reasoning step by step, offered options "
    "with their trade-offs, checked the facts it relied on and asked what mattered most to the person before "
    "going further with the answer."
)


def phrase_parts(n_values: int, seed: int = 0) -> list[tuple[str | None, str, str | None]]:
    """``n_values`` distinct (qualifier, head, context) triples, simplest forms first: heads, qualified heads,
    heads in context, qualified heads in context (each tier in a seeded random order)."""
    heads = [h for fam in FAMILIES.values() for h in fam]
    rng = np.random.default_rng(seed)
    tiers: list[list[tuple[str | None, str, str | None]]] = [
        [(None, h, None) for h in heads],
        [(q, h, None) for q in QUALIFIERS for h in heads],
        [(None, h, c) for h in heads for c in CONTEXTS],
        [(q, h, c) for q in QUALIFIERS for h in heads for c in CONTEXTS],
    ]
    out: list[tuple[str | None, str, str | None]] = []
    seen: set[str] = set()
    for tier in tiers:
        for i in rng.permutation(len(tier)):
            parts = tier[int(i)]
            key = " ".join(join_parts(parts).casefold().split())
            if key not in seen:
                seen.add(key)
                out.append(parts)
                if len(out) == n_values:
                    return out
    raise ValueError(f"at most {len(out)} distinct phrases can be generated, asked for {n_values}")


def join_parts(parts: tuple[str | None, str, str | None]) -> str:
    return " ".join(p for p in parts if p)


def phrases(n_values: int, seed: int = 0) -> list[str]:
    """``n_values`` distinct value phrases, simplest forms first (see :func:`phrase_parts`)."""
    return [join_parts(p) for p in phrase_parts(n_values, seed)]


def zipf_value_ids(n_values: int, n_records: int, rng: np.random.Generator) -> np.ndarray:
    """Value index per record: every value once, the rest Zipf-like over a random ranking."""
    if n_records < n_values:
        raise ValueError(f"need at least one record per value: {n_records} records < {n_values} values")
    ranks = np.arange(n_values)
    p = 1.0 / (ranks + 2.7) ** 1.07
    p /= p.sum()
    rest = rng.choice(n_values, size=n_records - n_values, p=p)
    # rank -> value index: mostly the simpler (earlier) phrases are the frequent ones, with noise
    perm = np.argsort(np.arange(n_values) / n_values + rng.normal(0.0, 0.3, n_values), kind="stable")
    ids = np.concatenate([np.arange(n_values), perm[rest]])
    rng.shuffle(ids)
    return ids


def rows(n_values: int, n_records: int, seed: int = 0) -> Iterator[tuple[str, str, str, str, str]]:
    """(conversation_id, value, role, task, excerpt) for each record, conversation by conversation."""
    rng = np.random.default_rng(seed)
    texts = phrases(n_values, seed)
    vid = zipf_value_ids(n_values, n_records, rng)
    n_conv = max(1, n_records // 4)
    # each record lands in a random conversation (about 4 records each, sizes Poisson-like)
    conv_of = np.sort(rng.integers(0, n_conv, size=n_records))
    roles = np.where(rng.random(n_records) < 0.82, "ai", "human")
    conv_task = rng.integers(0, len(TASKS), size=n_conv)
    variant = rng.random(n_records)
    width = len(str(n_conv))
    for i in range(n_records):
        text = texts[int(vid[i])]
        v = variant[i]
        if v < 0.03:
            surface = text.capitalize()
        elif v < 0.04:
            surface = text.title()
        elif v < 0.045:
            surface = "  " + text.replace(" ", "  ") + " "
        else:
            surface = text
        c = int(conv_of[i])
        task = TASKS[int(conv_task[c])]
        excerpt = (f"[{task}] Showing {text}: " + _FILLER)[:200]
        yield f"conv-{c:0{width}d}", surface, str(roles[i]), task, excerpt


def write(path: str | Path, n_values: int, n_records: int, seed: int = 0) -> Path:
    """Write the records to ``path`` (.csv, .tsv or .jsonl, by extension)."""
    path = Path(path)
    header = ("conversation_id", "value", "role", "task", "excerpt")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise SystemExit(f"{path}: use a .csv, .tsv or .jsonl file name")
    if n_records < n_values:
        raise ValueError(f"need at least one record per value: {n_records} records < {n_values} values")
    most = sum(len(f) for f in FAMILIES.values()) * (1 + len(QUALIFIERS)) * (1 + len(CONTEXTS))
    if n_values > most:
        raise ValueError(f"at most {most:,} distinct phrases can be generated, asked for {n_values:,}")
    with open(path, "w", newline="", encoding="utf-8") as fh:
        if suffix in (".csv", ".tsv"):
            w = csv.writer(fh, delimiter="\t" if suffix == ".tsv" else ",", lineterminator="\n")
            w.writerow(header)
            w.writerows(rows(n_values, n_records, seed))
        elif suffix == ".jsonl":
            for r in rows(n_values, n_records, seed):
                fh.write(json.dumps(dict(zip(header, r, strict=True)), ensure_ascii=False) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=int, default=100_000, help="distinct value phrases (default 100,000)")
    ap.add_argument("--records", type=int, default=None, help="extraction records (default 10 per value)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True, help="output file (.csv, .tsv or .jsonl)")
    args = ap.parse_args(argv)
    n_records = args.records if args.records is not None else 10 * args.values
    if args.values < 1:
        raise SystemExit("--values must be at least 1")
    t = time.perf_counter()
    try:
        write(args.out, args.values, n_records, args.seed)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"{args.out}: {n_records:,} records, {args.values:,} values in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
