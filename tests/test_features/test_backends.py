"""DuckDB (default) and PySpark run the same Ibis expressions and give the same rows."""

import pandas as pd
import pytest

from mooc_risk.features.build import build_features, default_spec
from mooc_risk.features.canonical.tables import read_tables


@pytest.mark.slow
@pytest.mark.spark
def test_duckdb_and_pyspark_give_equal_feature_rows(small_synthetic, cmap, duck, spark_con):
    duck_tables = read_tables(small_synthetic, duck, cmap)
    spec = default_spec(duck_tables, cmap)
    expected = build_features(duck_tables, [0, 7, 21], spec)
    actual = build_features(read_tables(small_synthetic, spark_con, cmap), [0, 7, 21], spec)
    assert len(expected) > 300
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-9)
