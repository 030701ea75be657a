"""reconcile on hand-planted defects and on generated pairs, checked against DuckDB: an SQL engine the lab does not
implement computes the missing, extra, duplicated, lost and changed keys from the same rows (``toPandas()``)."""

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.topics import reconcile

SCHEMA = "grp string, id int, name string, amount double"
KEY = ["grp", "id"]
BASE = [(1, "ann", 10.0), (2, "bob", 20.0), (3, "cy", None), (4, "di", 40.0), (5, "ed", 50.0), (6, "fay", 60.0),
        (7, "gus", 70.0), (8, "hal", 80.0)]


def _replace(rows, key, new):
    return [new if r[0] == key else r for r in rows]


# every case: (source rows, target rows, what reconcile must say, planted by hand)
CASES = {
    "deleted": (BASE, [r for r in BASE if r[0] != 2], {"missing": [2]}),
    "added": (BASE, [*BASE, (9, "ivy", 90.0)], {"extra": [9]}),
    "changed": (BASE, _replace(BASE, 4, (4, "dee", 40.0)), {"changed": {4: ["name"]}}),
    "duplicated": (BASE, [*BASE, (5, "ed", 50.0)], {"duplicated": {5: (1, 2)}}),
    "moved into a null neighbour": (BASE, _replace(_replace(BASE, 3, (3, "cy", 40.0)), 4, (4, "di", None)),
                                    {"changed": {3: ["amount"], 4: ["amount"]}}),
    "set to null": (BASE, _replace(BASE, 6, (6, "fay", None)), {"changed": {6: ["amount"]}}),
    "lost duplicate": ([*BASE, (7, "gus", 70.0)], BASE, {"lost_duplicates": {7: (2, 1)}}),
    "lost duplicate whose survivor changed": ([*BASE, (7, "gus", 70.0)], _replace(BASE, 7, (7, "gus", 71.0)),
                                              {"lost_duplicates": {7: (2, 1)}, "changed": {7: ["amount"]}}),
    "same rows in other multiplicities": ([*BASE, (8, "hal", 80.0), (8, "hal", 81.0)],
                                          [*BASE, (8, "hal", 81.0), (8, "hal", 81.0)], {"changed": {8: ["amount"]}}),
    "equal in another order": (BASE, BASE[::-1], {}),
}
KINDS = ("missing", "extra", "duplicated", "lost_duplicates", "changed")


def _frames(spark, pairs):
    """Source and target DataFrames of many (source rows, target rows) pairs, the pair's name as part of the key."""
    src = [(name, *r) for name, (s, _t) in pairs.items() for r in s]
    tgt = [(name, *r) for name, (_s, t) in pairs.items() for r in t]
    return spark.createDataFrame(src, SCHEMA), spark.createDataFrame(tgt, SCHEMA)


def duckdb_reference(source: pd.DataFrame, target: pd.DataFrame) -> dict:
    """What reconcile must find, in SQL: counts per key, and the rows one side has that the other does not.

    A key is changed when the sets of distinct rows differ (EXCEPT), or, with the same count on both sides,
    the rows differ as multisets (EXCEPT ALL). Changed columns are compared for keys of one row per side.
    """
    con = duckdb.connect()
    con.register("s", source)
    con.register("t", target)
    counts = con.sql("""
        WITH a AS (SELECT grp, id, count(*) AS n FROM s GROUP BY grp, id),
             b AS (SELECT grp, id, count(*) AS n FROM t GROUP BY grp, id)
        SELECT coalesce(a.grp, b.grp) AS grp, coalesce(a.id, b.id) AS id, coalesce(a.n, 0) AS ns,
               coalesce(b.n, 0) AS nt
        FROM a FULL OUTER JOIN b ON a.grp = b.grp AND a.id = b.id""").df()
    con.register("counts", counts)
    changed = con.sql("""
        WITH d AS ((SELECT * FROM s EXCEPT SELECT * FROM t) UNION (SELECT * FROM t EXCEPT SELECT * FROM s)),
             m AS (SELECT * FROM s EXCEPT ALL SELECT * FROM t)
        SELECT grp, id FROM counts c WHERE ns > 0 AND nt > 0 AND (
            EXISTS (SELECT 1 FROM d WHERE d.grp = c.grp AND d.id = c.id)
            OR (ns = nt AND EXISTS (SELECT 1 FROM m WHERE m.grp = c.grp AND m.id = c.id)))""").df()
    columns = con.sql("""
        SELECT grp, id, list_filter([CASE WHEN s.name IS DISTINCT FROM t.name THEN 'name' END,
                                     CASE WHEN s.amount IS DISTINCT FROM t.amount THEN 'amount' END],
                                    lambda x: x IS NOT NULL) AS columns
        FROM s JOIN t USING (grp, id) JOIN counts USING (grp, id) WHERE ns = 1 AND nt = 1""").df()
    pick = {"missing": "nt = 0", "extra": "ns = 0", "duplicated": "nt > ns AND ns > 0",
            "lost_duplicates": "ns > nt AND nt > 0"}
    out = {k: {(g, i): (ns, nt) for g, i, ns, nt in con.sql(f"SELECT grp, id, ns, nt FROM counts WHERE {q}").fetchall()}
           for k, q in pick.items()}
    unique_cols = {(r.grp, r.id): sorted(r.columns) for r in columns.itertuples()}
    out["changed"] = {(r.grp, r.id): unique_cols.get((r.grp, r.id)) for r in changed.itertuples()}
    return out


def _found(got: dict) -> dict:
    """reconcile's answer in the reference's form (changed columns sorted, so that order does not matter)."""
    out = {k: {(r.grp, r.id): (r.source_rows, r.target_rows) if k in ("duplicated", "lost_duplicates") else None
               for r in got[k].itertuples()} for k in KINDS[:4]}
    out["changed"] = {(r.grp, r.id): sorted(r.columns) for r in got["changed"].itertuples()}
    return out


def _same_as_reference(found: dict, ref: dict) -> None:
    for kind in KINDS[:4]:
        if kind in ("missing", "extra"):
            assert set(found[kind]) == set(ref[kind]), kind
        else:
            assert found[kind] == ref[kind], kind
    assert set(found["changed"]) == set(ref["changed"]), "changed"
    for k, cols in ref["changed"].items():
        if cols is not None:  # one row per side: the columns are unambiguous
            assert found["changed"][k] == cols, k


@pytest.fixture(scope="module")
def planted(spark):
    """One reconcile over every case at once (the case's name is part of the key), and DuckDB's answer."""
    source, target = _frames(spark, {name: (s, t) for name, (s, t, _) in CASES.items()})
    got = reconcile.reconcile(source, target, KEY, buckets=8)
    return got, _found(got), duckdb_reference(source.toPandas(), target.toPandas())


def _of(found: dict, case: str) -> dict:
    return {kind: {k[1]: v for k, v in found[kind].items() if k[0] == case} for kind in KINDS}


@pytest.mark.parametrize("case", list(CASES))
def test_each_planted_defect_is_found_exactly_as_duckdb_finds_it(planted, case):
    _, found, ref = planted
    mine, theirs = _of(found, case), _of(ref, case)
    _same_as_reference(mine, theirs)
    expected = CASES[case][2]
    for kind in KINDS:  # the reference agrees with what was planted by hand, and nothing else is reported
        want = expected.get(kind, {})
        assert (set(mine[kind]) if kind in ("missing", "extra") else mine[kind]) == (
            set(want) if kind in ("missing", "extra") else want), kind


def test_a_lost_duplicate_is_reported_with_both_counts_and_nothing_else(spark):
    source = spark.createDataFrame([("g", *r) for r in [*BASE, BASE[0]]], SCHEMA)
    target = spark.createDataFrame([("g", *r) for r in BASE], SCHEMA)
    got = reconcile.reconcile(source, target, KEY)
    assert not got["equal"] and got["buckets_differing"] == 1
    assert got["lost_duplicates"].to_dict("records") == [{"grp": "g", "id": 1, "source_rows": 2, "target_rows": 1}]
    assert all(got[k].empty for k in ("missing", "extra", "duplicated", "changed"))


def test_when_reconcile_says_not_equal_it_always_names_a_key(planted):
    got, found, _ = planted
    assert not got["equal"]
    reported = set().union(*[set(found[k]) for k in KINDS])
    assert {grp for grp, _ in reported} == set(CASES) - {"equal in another order"}


_ROW = st.tuples(st.integers(0, 3), st.sampled_from([None, "a", "b"]), st.sampled_from([None, 0.0, 1.5]))


@st.composite
def _pair(draw):
    """A small source, and a target drawn from its rows and fresh ones (so near-equal pairs are common)."""
    source = draw(st.lists(_ROW, max_size=6))
    pool = st.one_of(st.sampled_from(source), _ROW) if source else _ROW
    return source, draw(st.lists(pool, max_size=7))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(pairs=st.lists(_pair(), min_size=1, max_size=12))
def test_generated_pairs_are_reconciled_as_duckdb_reconciles_them(spark, pairs):
    named = {f"p{i}": pair for i, pair in enumerate(pairs)}  # many pairs, one Spark reconcile
    source, target = _frames(spark, named)
    found = _found(reconcile.reconcile(source, target, KEY, buckets=4))
    _same_as_reference(found, duckdb_reference(source.toPandas(), target.toPandas()))
