"""MLflow runs of a sweep, shared by `se-sweep run` (through `sweep.mlflow_callback`) and
`se-sweep report --mlflow`: the client, the check that a tracking URI answers, the sweep's parent
run, and the report attached to it. MLflow is an optional extra (`se-sweep[mlflow]`), imported
only when asked for; nothing here imports Ray.
"""

from __future__ import annotations

import os
from pathlib import Path

from se_train.errors import UserError, first_line

EXPERIMENT_TAG = "se_sweep.experiment"  # the experiment folder or URI: one parent run per sweep
TRIAL_TAG = "se_sweep.trial_id"
INCOMPLETE_TAG = "se_sweep.incomplete"  # "true" on a trial run that missed some of its results

def client_for(uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("MLflow tracking needs mlflow: pip install 'se-sweep[mlflow]'") from None
    # Fail fast on a server that does not answer, instead of MLflow's minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    return MlflowClient(tracking_uri=uri)


def check_server(uri: str, source: str) -> None:
    """A tracking URI that answers, checked before Ray starts."""
    client = client_for(uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as e:  # noqa: BLE001 - any failure to talk to the server is the user's to fix
        raise UserError(f"{source}: MLflow tracking URI {uri} does not answer ({first_line(e)})") from None


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    # The kind tag makes MLflow 3's UI open the experiment on its runs table, not its GenAI page.
    return found.experiment_id if found else client.create_experiment(name, tags={"mlflow.experimentKind": "custom_model_development"})


def parent_run(client, experiment_name: str, experiment: str, sweep: str) -> str:
    """The sweep's parent run (created on first use)."""
    exp_id = _experiment_id(client, experiment_name)
    runs = client.search_runs([exp_id], filter_string=f"tags.`{EXPERIMENT_TAG}` = '{experiment}'", max_results=1)
    if runs:
        return runs[0].info.run_id
    return client.create_run(exp_id, run_name=sweep, tags={EXPERIMENT_TAG: experiment, "sweep": sweep}).info.run_id


def attach_report(uri: str, experiment_name: str, experiment: str, sweep: str, report_dir: Path) -> str:
    """Upload the report folder to the sweep's parent run (under `report/`); return the run id."""
    client = client_for(uri)
    run_id = parent_run(client, experiment_name, experiment, sweep)
    client.log_artifacts(run_id, str(report_dir), artifact_path="report")
    return run_id
