"""Object storage for real: a sweep whose `storage` and `data_root` are both in an S3 bucket, on
moto's S3 API server (as Ray's own tests do, `ray._common.test_utils.simulate_s3_bucket`), then
`status`, `report` and `resume` from the bucket. Both ways of naming an S3-compatible endpoint:
the AWS_ENDPOINT_URL variable, and Ray's query-string form on the URI (one sweep: a second run
would prove nothing more and cost 45 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pandas as pd
import pytest
import yaml

import se_train
from se_train.cli import main
from tests.helpers import S3_CREDENTIALS, s3_server

pytestmark = pytest.mark.ray  # `run` and `resume` each start (and stop) their own local Ray



@pytest.fixture(scope="module")
def endpoint():
    with s3_server() as url:
        yield url


def _se_sweep(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "se_train.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_a_sweep_with_storage_and_data_in_a_bucket_runs_reports_and_resumes(endpoint, tmp_path, capsys):
    bucket = "se-sweep"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    query = f"?region=us-east-1&endpoint_override={endpoint}"  # Ray's form, read without AWS_ENDPOINT_URL
    env = {**os.environ, **S3_CREDENTIALS, "SE_SWEEP_DATA_CACHE": str(tmp_path / "cache-prepare")}
    by_variable = {**env, "AWS_ENDPOINT_URL": endpoint}

    # The data in the query form, the experiments through AWS_ENDPOINT_URL: one sweep, both forms.
    data_root = f"s3://{bucket}/data{query}"
    prepared = _se_sweep(env, "prepare", "digits", "--data-root", data_root, cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"data/digits/manifest.json", "data/digits/train/part-00000.parquet"} <= keys

    # The sweep's machine has no copy yet: its checks and its trials read the bucket's.
    by_variable["SE_SWEEP_DATA_CACHE"] = str(tmp_path / "cache-run")
    sweep = tmp_path / "s3.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "s3", "data_root": data_root, "storage": f"s3://{bucket}/experiments",
        "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu", "selu"], "se": [False]},
        "train": {"epochs": 1, "lr": 1e-3, "schedule": "constant"},
        # 50 KiB: train (1,197 images of 64 bytes) streams through Ray Data, valid and test are held.
        "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, "in_memory_mb": 0.05},
    }))
    run = _se_sweep(by_variable, "run", str(sweep), "--num-cpus", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    copied = {p.relative_to(next((tmp_path / "cache-run").rglob("digits"))).as_posix() for p in (tmp_path / "cache-run").rglob("digits/**/*.parquet")}
    assert copied == {"valid/part-00000.parquet", "test/part-00000.parquet"}, "held splits are copied, the streamed one read from the bucket"
    assert not (tmp_path / "s3:").exists(), "a URI was taken for a local folder"

    def results():
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="experiments/s3/")["Contents"]
        return {o["Key"]: o["ETag"] for o in listed if o["Key"].endswith("/result.json")}

    finished = results()
    assert len(finished) == 2
    # `status` and `report` start no Ray: run here, in each environment, as the command line runs them.
    for experiment, how in ((f"s3://{bucket}/experiments/s3", by_variable), (f"s3://{bucket}/experiments/s3{query}", env)):
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("AWS_ENDPOINT_URL", raising=False)
            for key, value in how.items():
                patch.setenv(key, value)
            assert main(["status", experiment]) == 0
            assert "2 trials: 2 done" in capsys.readouterr().out
            out = tmp_path / f"report{len(experiment)}"
            assert main(["report", experiment, "--out", str(out)]) == 0
        assert json.loads((out / "sources.json").read_text())[0]["data_root"] == data_root
        assert len(pd.read_parquet(out / "runs.parquet")) == 2
        assert pd.read_parquet(out / "epochs.parquet")["train_images"].tolist() == [1197, 1197]  # the whole streamed split
    with pytest.MonkeyPatch.context() as patch:  # the Python API on the bucket, as a notebook opens it
        for key, value in S3_CREDENTIALS.items():
            patch.setenv(key, value)
        opened = se_train.load(experiment)
    assert opened.record.name == "s3" and len(opened.runs) == 2 and opened.epochs["epoch"].tolist() == [1, 1]
    resumed = _se_sweep(env, "resume", experiment, "--num-cpus", "2", cwd=tmp_path)  # the query form, no variable
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "nothing to rerun" in resumed.stdout  # every trial finished: said from the bucket's state, no Ray started
    assert results() == finished  # read back from the bucket, and nothing finished was rerun
