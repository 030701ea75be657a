"""The lab runs unchanged on real, separate executor JVMs (local-cluster).

One Python process holds one SparkContext, so this runs in a child process.
"""

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import json
    from labkit import datagen, spark_session
    from labkit.core.measure import measure

    spark = spark_session("local-cluster[2,1,1024]", app_name="labkit-cluster-test",
                          **{"spark.executor.memory": "512m", "spark.driver.memory": "1g"})
    df = datagen.transactions(spark, 20_000, customers=200, partitions=4)
    m = measure(spark, lambda: df.groupBy("customer_id").count().collect(), "cluster")
    hosts = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    local = datagen.transactions(spark, 20_000, customers=200, partitions=1).groupBy("customer_id").count()
    print("RESULT " + json.dumps({"rows": sum(r["count"] for r in m.result), "keys": len(m.result),
                                  "tasks": m.tasks, "stages": m.stages, "shuffle": m.shuffle_read_bytes,
                                  "block_managers": hosts, "master": spark.sparkContext.master,
                                  "same": sorted(map(tuple, m.result)) == sorted(map(tuple, local.collect()))}))
    spark.stop()
""")


@pytest.mark.slow
def test_datagen_and_measure_run_on_separate_executor_jvms(tmp_path):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert out.returncode == 0 and lines, out.stderr[-3000:]
    got = json.loads(lines[0][len("RESULT "):])
    assert got["master"] == "local-cluster[2,1,1024]"
    assert got["block_managers"] == 3  # the driver and two executor JVMs
    assert got["rows"] == 20_000 and got["keys"] == 200 and got["same"]
    assert got["stages"] == 2 and got["tasks"] >= 4 + 1 and got["shuffle"] > 0
