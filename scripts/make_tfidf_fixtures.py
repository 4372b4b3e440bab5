#!/usr/bin/python3
"""scikit-learn fixtures for the bag-of-words and TF-IDF vectorizers (src/vectors/bow.ts).

Run with Debian's python3-sklearn:  /usr/bin/python3 scripts/make_tfidf_fixtures.py
Writes test/fixtures/vectors/tfidf.json: for a small corpus (40 lines of the bundled
tinyshakespeare plus a few lines with accents, digits, underscores and apostrophes), the
vocabulary, counts and TF-IDF rows of CountVectorizer / TfidfVectorizer with default
settings and with min_df=2, max_df=0.5, max_features=40, as dense lists.
"""
import json
import os

import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "vectors", "tfidf.json")

with open(os.path.join(ROOT, "data", "tinyshakespeare.txt"), encoding="utf-8") as f:
    lines = [l for l in f.read().split("\n") if l.strip()][:40]
docs = lines + [
    "Café naïve façade, déjà vu: 42 km_h in 2024!",
    "snake_case words and CamelCase Words; don't stop",
    "Ünïcödé ÜNÏCÖDÉ straße STRASSE",
    "a I x 1 2",  # no token of two characters: an empty row
]


def case(name, **kw):
    cv = CountVectorizer(**kw).fit(docs)
    tv = TfidfVectorizer(**kw).fit(docs)
    assert list(cv.get_feature_names_out()) == list(tv.get_feature_names_out())
    return {
        "name": name,
        "options": kw,
        "vocabulary": [str(t) for t in cv.get_feature_names_out()],
        "counts": cv.transform(docs).toarray().tolist(),
        "idf": tv.idf_.tolist(),
        "tfidf": tv.transform(docs).toarray().tolist(),
    }


# Classifiers on the TF-IDF rows: labels are the speaker-line parity (arbitrary but fixed).
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB

labels = ["a" if ("the" in d.lower() or i % 3 == 0) else ("b" if i % 3 == 1 else "c") for i, d in enumerate(docs)]
tv = TfidfVectorizer().fit(docs)
X = tv.transform(docs)
nb = MultinomialNB().fit(X, labels)
lr = LogisticRegression(C=1.0, tol=1e-8, max_iter=10000).fit(X, labels)
classifiers = {
    "labels": labels,
    "nb_class_log_prior": nb.class_log_prior_.tolist(),
    "nb_feature_log_prob": nb.feature_log_prob_.tolist(),
    "lr_coef": lr.coef_.tolist(),
    "lr_intercept": lr.intercept_.tolist(),
    "lr_proba": lr.predict_proba(X).tolist(),
}

out = {
    "sklearn_version": sklearn.__version__,
    "docs": docs,
    "cases": [case("default"), case("bounded", min_df=2, max_df=0.5, max_features=40)],
    "classifiers": classifiers,
}
with open(OUT, "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
print(OUT)
