"""Deduplicates a CSV of people with splink (DuckDB backend), the field's tool, for
bench-quality to print beside Prism: the same blocking rules, comparable
comparisons, a model trained without labels (u by random sampling, m by
expectation maximisation), pairs from a match probability of 0.9 up.

    python3 splink_dedup.py INPUT.csv PAIRS.csv BLOCKING

BLOCKING is a JSON list of rules, each a list of column names. Prints the seconds
the linkage took and the process's peak RSS in MB as one JSON line.
"""
import json
import resource
import sys
import time

import duckdb
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

source, target, blocking = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
started = time.monotonic()
con = duckdb.connect()
people = con.sql(
    f"SELECT * REPLACE (trim(CAST(rec_id AS VARCHAR)) AS rec_id) FROM read_csv('{source}', all_varchar = true)"
)
columns = [c.strip() for c in people.columns]
people = con.sql(
    "SELECT " + ", ".join(f'lower(trim("{raw}")) AS "{clean}"' if clean != "rec_id" else f'"{raw}" AS rec_id'
                          for raw, clean in zip(people.columns, columns)) + " FROM people"
).df()
compared = [c for c in columns if c not in ("rec_id", "address_2", "state")]
comparisons = [
    cl.JaroWinklerAtThresholds(c, [0.9, 0.8]) if c in ("given_name", "surname", "suburb", "address_1")
    else cl.LevenshteinAtThresholds(c, [1, 2])
    for c in compared
]
settings = SettingsCreator(
    link_type="dedupe_only",
    unique_id_column_name="rec_id",
    comparisons=comparisons,
    blocking_rules_to_generate_predictions=[block_on(*rule) for rule in blocking],
)
linker = Linker(people, settings, db_api=DuckDBAPI(connection=con))
linker.training.estimate_probability_two_random_records_match(
    [block_on(*rule) for rule in blocking[:1]], recall=0.8
)
linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
for rule in blocking[:2]:
    linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
pairs = linker.inference.predict(threshold_match_probability=0.9).as_pandas_dataframe()
pairs[["rec_id_l", "rec_id_r"]].to_csv(target, index=False, header=["left_id", "right_id"])
elapsed = time.monotonic() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak_mb, "pairs": len(pairs)}))
