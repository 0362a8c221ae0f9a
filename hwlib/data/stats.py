"""Statistics and quirks of the course's datasets, for the data chapter: counts per label, token lengths,
repeated texts, overlap between splits, and repeated aspect terms."""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from hwlib.data import column


def label_counts(dd) -> "pandas.DataFrame":
    """Rows: splits; columns: label names; values: counts (plus a total)."""
    import pandas as pd

    table = {}
    for split, ds in dd.items():
        names = ds.features["label"].names
        counts = np.bincount(np.asarray(column(ds, "label"), dtype=np.int64), minlength=len(names))
        table[split] = dict(zip(names, counts.tolist()))
    df = pd.DataFrame(table).T
    df["total"] = df.sum(axis=1)
    return df


def token_lengths(ds, tokenizer) -> np.ndarray:
    """Tokens per example of one split (special tokens included, no truncation)."""
    return np.array([len(ids) for ids in tokenizer(column(ds, "text"), truncation=False)["input_ids"]])


def length_percentiles(dd, tokenizer, percentiles=(50, 90, 95, 99, 100)) -> "pandas.DataFrame":
    """Token-length percentiles per split for ``tokenizer`` (observed lengths: the smallest length with at least
    p% of the examples at or below it), and the mean."""
    import pandas as pd

    rows = {}
    for split, ds in dd.items():
        lengths = token_lengths(ds, tokenizer)
        rows[split] = {f"p{p}": int(np.percentile(lengths, p, method="inverted_cdf")) for p in percentiles}
        rows[split]["mean"] = round(float(lengths.mean()), 1)
    df = pd.DataFrame(rows).T
    return df.astype({f"p{p}": int for p in percentiles})


def duplicate_report(dd) -> "pandas.DataFrame":
    """Repeated texts per split: rows, distinct texts, texts that occur more than once, the most copies of one
    text, and repeated texts whose copies carry different labels."""
    import pandas as pd

    rows = {}
    for split, ds in dd.items():
        texts, labels = column(ds, "text"), column(ds, "label")
        copies, label_sets = Counter(texts), defaultdict(set)
        for t, y in zip(texts, labels):
            label_sets[t].add(y)
        repeated = [t for t, c in copies.items() if c > 1]
        rows[split] = {"rows": len(texts), "distinct_texts": len(copies), "repeated_texts": len(repeated),
                       "max_copies": max(copies.values(), default=0),
                       "conflicting_labels": sum(len(label_sets[t]) > 1 for t in repeated)}
    return pd.DataFrame(rows).T


def split_overlap(dd) -> "pandas.DataFrame":
    """Exact-text overlap between splits: for each split and each split before it (train, dev, test order), the
    rows whose text also occurs in the earlier split, how many of those carry a label the earlier split also
    gives that text, and the number of distinct texts the two splits share."""
    import pandas as pd

    splits = list(dd)
    records = []
    for i, split in enumerate(splits):
        for other in splits[:i]:
            seen = defaultdict(set)
            for t, y in zip(column(dd[other], "text"), column(dd[other], "label")):
                seen[t].add(y)
            hits = [(t, y) for t, y in zip(column(dd[split], "text"), column(dd[split], "label")) if t in seen]
            records.append({"split": split, "other": other, "rows": len(dd[split]), "rows_in_other": len(hits),
                            "same_label": sum(y in seen[t] for t, y in hits), "shared_texts": len({t for t, _ in hits})})
    return pd.DataFrame(records).set_index(["split", "other"])


def aspect_term_report(dd, sep_token: str) -> "pandas.DataFrame":
    """SemEval quirks per split: records, distinct sentences, and records whose aspect term occurs more than once
    in its sentence (its position is then ambiguous). Texts must be ``term + sep_token + sentence``."""
    import pandas as pd

    rows = {}
    for split, ds in dd.items():
        pairs = []
        for i, text in enumerate(column(ds, "text")):
            term, sep, sentence = text.partition(sep_token)
            if not sep:
                raise ValueError(f"{split} row {i} does not contain sep_token {sep_token!r}: {text[:60]!r}; "
                                 f"pass the sep_token the SemEval dataset was loaded with")
            pairs.append((term, sentence))
        rows[split] = {"records": len(pairs), "distinct_sentences": len({s for _, s in pairs}),
                       "term_repeated_in_sentence": sum(s.count(t) > 1 for t, s in pairs)}
    return pd.DataFrame(rows).T


def majority_floor(name: str) -> dict:
    """Test accuracy and macro-F1 (points) of always predicting task ``name``'s most frequent training label: the
    floor that a model which learned only the label frequencies reaches. Macro-F1 averages over the labels present
    in the test split or predicted (scikit-learn's convention for the labels argument)."""
    from sklearn.metrics import f1_score

    from hwlib.data import get_dataset

    dd = get_dataset(name, sep_token="[SEP]")
    train, test = np.asarray(column(dd["train"], "label")), np.asarray(column(dd["test"], "label"))
    pred = np.full_like(test, np.bincount(train).argmax())
    return {"accuracy": 100 * float(np.mean(pred == test)),
            "macro_f1": 100 * float(f1_score(test, pred, average="macro", labels=np.unique(np.r_[test, pred])))}


def label_entropy(name: str) -> float:
    """Entropy (nats) of task ``name``'s training label distribution: the cross-entropy of predicting the label
    frequencies for every example, where the training loss of a model that learned nothing else levels off."""
    from hwlib.data import get_dataset

    counts = np.bincount(np.asarray(column(get_dataset(name, sep_token="[SEP]")["train"], "label")))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())
