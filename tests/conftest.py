import os

import pytest

from mooc_risk.features.constructs import load_construct_map


@pytest.fixture(scope="session")
def cmap():
    return load_construct_map()


@pytest.fixture(scope="session")
def duck():
    from mooc_risk.features.canonical.engine import connect

    return connect("duckdb")


def spark_available() -> bool:
    import importlib.util
    import shutil

    return importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None


@pytest.fixture(scope="session")
def spark_con():
    if not spark_available():
        if os.environ.get("MOOC_RISK_REQUIRE_SPARK"):
            pytest.fail("MOOC_RISK_REQUIRE_SPARK is set but pyspark or java is missing")
        pytest.skip("pyspark or java not installed")
    from mooc_risk.features.canonical.engine import connect

    return connect("pyspark", threads=2)
