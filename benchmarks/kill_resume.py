"""A driver killed again and again on a bucket: every trial must end with each epoch exactly once.

    PYTHONPATH=. python benchmarks/kill_resume.py [ROUNDS]

On this machine, storage on moto's S3 server (as the tests run it; `pip install -e '.[test]'`):
8 one-worker trials of 12 epochs on digits; the driver is SIGKILLed 15, 25 and 35 s after each
start (`run`, then `resume`), then a last `resume` runs to the end. Prints each round's exit codes
and each trial's epochs as its result.json in the bucket holds them. Not a test: where the kills
land depends on the machine's speed, which is why the tests place theirs by hand.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import yaml

from tests.helpers import S3_CREDENTIALS, s3_server

EPOCHS, KILLS_S = 12, (15, 25, 35)


def round_(work: Path, bucket: str) -> bool:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    env = {**os.environ, **S3_CREDENTIALS}
    with s3_server() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in S3_CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
                          region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        query = f"?region=us-east-1&endpoint_override={endpoint}"
        path = work / "killed.yaml"
        path.write_text(yaml.safe_dump({
            "name": "killed", "data_root": str(work / "data"), "storage": f"s3://{bucket}/experiments{query}",
            "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu", "selu"], "se": [False, True], "seed": [0, 1]},
            "train": {"epochs": EPOCHS, "lr": 1e-3, "schedule": "constant"},
            "resources": {"workers_per_trial": 1, "cpus_per_worker": 1},
        }))
        command, codes = ["run", str(path)], []
        for after in (*KILLS_S, None):
            proc = subprocess.Popen([sys.executable, "-m", "se_train.cli", *command], env=env, start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                err = proc.communicate(timeout=after)[1]
                codes.append(proc.returncode if proc.returncode == 0 else f"{proc.returncode}: {err.strip().splitlines()[-1:]}")
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                codes.append("killed")
            command = ["resume", f"s3://{bucket}/experiments/killed{query}"]
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="experiments/killed/")
        logs = sorted(o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith("/result.json"))
        epochs = {key.split("/")[2]: [json.loads(line)["epoch"] for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
                                      if line.strip()] for key in logs}
    exact = len(epochs) == 8 and all(e == list(range(1, EPOCHS + 1)) for e in epochs.values())
    print(f"exit codes {codes}; {sum(e == list(range(1, EPOCHS + 1)) for e in epochs.values())} of 8 trials hold each epoch exactly once")
    for trial, e in epochs.items():
        if e != list(range(1, EPOCHS + 1)):
            print(f"  {trial}: {e}")
    return exact


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:  # moto keeps its buckets for the whole process: one each
            results.append(round_(Path(tmp), f"kill-resume-{len(results)}"))
    sys.exit(0 if all(results) else 1)
